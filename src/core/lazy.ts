/**
 * A module loaded on first use instead of at start. Most of the host's start
 * time is module loading, and each vendor SDK costs tens of milliseconds that
 * a user who never calls that vendor should not pay.
 */
export interface Lazy<T> {
  /** Loads the module once (again after a failed load) and resolves with it. */
  get(): Promise<T>;
  /**
   * The module once loaded, else undefined: for synchronous checks that only
   * matter after a load, such as `instanceof` on errors only it can throw.
   */
  readonly loaded: T | undefined;
}

export function lazy<T>(load: () => Promise<T>): Lazy<T> {
  let value: T | undefined;
  let pending: Promise<T> | undefined;
  return {
    get() {
      pending ??= load().then(
        (v) => (value = v),
        (err: unknown) => {
          pending = undefined;
          throw err;
        },
      );
      return pending;
    },
    get loaded() {
      return value;
    },
  };
}
