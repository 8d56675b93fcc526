/** Something that holds a resource (a registration, a watcher, a timer) until disposed. */
export interface Disposable {
  dispose(): void;
}

/** Something that can finish its in-flight work before it is disposed. */
export interface Drainable {
  /**
   * Stops taking new work and waits, at most `graceMs`, for what is running.
   * An aborted `hurry` ends the grace at once (nothing running can finish any more).
   */
  drain(graceMs: number, hurry?: AbortSignal): Promise<void>;
}

/**
 * Something whose release takes a while (a server closing its sockets, a child
 * process exiting). `dispose()` starts it; `disposeAsync()` also waits for it.
 */
export interface AsyncDisposable extends Disposable {
  disposeAsync(): Promise<void>;
}

function isDrainable(d: unknown): d is Drainable {
  return typeof (d as Partial<Drainable>).drain === 'function';
}

function isAsyncDisposable(d: unknown): d is AsyncDisposable {
  return typeof (d as Partial<AsyncDisposable>).disposeAsync === 'function';
}

/** Collects disposables and disposes them in reverse order, once. */
export class DisposableStore implements AsyncDisposable, Drainable {
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
  async drain(graceMs: number, hurry?: AbortSignal): Promise<void> {
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    const work = this.items
      .filter((d): d is Disposable & Drainable => isDrainable(d))
      .map((d) => d.drain(graceMs, hurry).catch(() => undefined));
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

  /**
   * Disposes in reverse order, one after the other, waiting for each member
   * that can be waited for: what was added last (and may use what came
   * before) is gone before its dependencies go. A member that fails is
   * skipped; the caller bounds the whole with its own deadline.
   */
  async disposeAsync(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const items = this.items.reverse();
    this.items = [];
    for (const d of items) {
      try {
        if (isAsyncDisposable(d)) await d.disposeAsync();
        else d.dispose();
      } catch {
        // One failing disposer must not keep the others from running.
      }
    }
  }
}

/** A disposable whose release is awaited by `DisposableStore.disposeAsync()`. */
export function toAsyncDisposable(fn: () => Promise<void>): AsyncDisposable {
  let done: Promise<void> | undefined;
  const run = () => (done ??= fn().catch(() => undefined));
  return {
    dispose() {
      void run();
    },
    disposeAsync: run,
  };
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
