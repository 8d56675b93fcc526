/** Something that holds a resource (a registration, a watcher, a timer) until disposed. */
export interface Disposable {
  dispose(): void;
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
