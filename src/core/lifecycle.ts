/**
 * Lifecycle states as types. A value of type `Ready<T>` can only be obtained
 * by going through `Starting.ready()`, so a function that takes a `Ready<T>`
 * cannot be handed a host that is still starting: the compiler refuses it.
 *
 *     Starting ──ready()──▶ Ready ──shutdown()──▶ ShuttingDown ──▶ Stopped
 *         └───────────────fail()────────────────────────────────────▲
 */
export type LifecycleState = 'starting' | 'ready' | 'shutting_down' | 'stopped';

declare const brand: unique symbol;

/** A phantom-typed wrapper: `S` exists only at compile time. */
export interface InState<S extends LifecycleState> {
  readonly state: S;
  readonly [brand]?: S;
}
