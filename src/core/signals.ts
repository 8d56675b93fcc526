/**
 * One signal that aborts when the first of several does, with its reason.
 *
 * `AbortSignal.any` does the same, but every signal it makes stays registered
 * with its sources (weakly, through a FinalizationRegistry) until the garbage
 * collector clears it: per call that is about 15 µs and garbage that grows with
 * the number of calls against long-lived sources (a server's shutdown signal).
 * This one holds plain listeners that `dispose()` removes when the work is done.
 */
import type { Disposable } from './disposable.js';

export interface LinkedSignal extends Disposable {
  readonly signal: AbortSignal;
}

export function anySignal(sources: readonly AbortSignal[]): LinkedSignal {
  const ctrl = new AbortController();
  const fired = sources.find((s) => s.aborted);
  if (fired) {
    ctrl.abort(fired.reason);
    return { signal: ctrl.signal, dispose: () => undefined };
  }
  const onAbort = (e: Event) => {
    dispose();
    ctrl.abort((e.target as AbortSignal).reason);
  };
  const dispose = () => {
    for (const s of sources) s.removeEventListener('abort', onAbort);
  };
  for (const s of sources) s.addEventListener('abort', onAbort);
  return { signal: ctrl.signal, dispose };
}
