/** Something that holds a resource (a registration, a watcher, a timer) until disposed. */
export interface Disposable {
  dispose(): void;
}

/** Something that can finish its in-flight work before it is disposed. */
export interface Drainable {
  /** Stops taking new work and waits, at most `graceMs`, for what is running. */
  drain(graceMs: number): Promise<void>;
}

function isDrainable(d: unknown): d is Drainable {
  return typeof (d as Partial<Drainable>).drain === 'function';
}

/** Collects disposables and disposes them in reverse order, once. */
export class DisposableStore implements Disposable {
  private items: Disposable[] = [];
  private disposed = false;

  add<T extends Disposable>(d: T): T {
    if (this.disposed) {
      d.dispose();
    } else {
      this.items.push(d);
    }
    return d;
  }

  /** Drains every member that can (in parallel), within `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    const work = this.items
      .filter((d): d is Disposable & Drainable => isDrainable(d))
      .map((d) => d.drain(graceMs).catch(() => undefined));
    await Promise.race([Promise.all(work), deadline]);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const items = this.items.reverse();
    this.items = [];
    for (const d of items) {
      try {
        d.dispose();
      } catch {
        // One failing disposer must not keep the others from running.
      }
    }
  }
}

export function toDisposable(fn: () => void): Disposable {
  let done = false;
  return {
    dispose() {
      if (!done) {
        done = true;
        fn();
      }
    },
  };
}
