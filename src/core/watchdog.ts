/**
 * Timeouts for one HTTP call in phases: `connect` (until the response headers),
 * `first_token` (until the first streamed piece) and `idle` (the longest gap between
 * pieces). When a phase's deadline passes, the watchdog aborts the call's controller with
 * a TimeoutError naming the phase, so the connection closes at once.
 */
import { TimeoutError } from './errors.js';

export interface PhaseTimeouts {
  connectMs: number;
  firstTokenMs: number;
  idleMs: number;
}

export type Phase = 'connect' | 'first_token' | 'idle';

export class Watchdog {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Set once a deadline passed. */
  error: TimeoutError | undefined;

  constructor(
    private readonly controller: AbortController,
    private readonly timeouts: PhaseTimeouts,
    private readonly what: string,
  ) {}

  /** (Re)arms the deadline for `phase`. */
  phase(phase: Phase): void {
    this.stop();
    if (this.error) return;
    const ms =
      phase === 'connect'
        ? this.timeouts.connectMs
        : phase === 'first_token'
          ? this.timeouts.firstTokenMs
          : this.timeouts.idleMs;
    if (!(ms > 0) || !Number.isFinite(ms)) return;
    this.timer = setTimeout(() => {
      this.error = new TimeoutError(message(this.what, phase, ms), phase);
      this.controller.abort(this.error);
    }, ms);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function message(what: string, phase: Phase, ms: number): string {
  const s = ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 ? 1 : 0)}s` : `${ms}ms`;
  switch (phase) {
    case 'connect':
      return `${what} did not answer within ${s}. Check that it is running and reachable, or raise timeouts.connect_ms.`;
    case 'first_token':
      return `${what} sent no output within ${s} (the model may still be loading). Try again, or raise timeouts.first_token_ms.`;
    case 'idle':
      return `${what} stopped sending output for ${s} in the middle of the answer. Try again, or raise timeouts.idle_ms.`;
  }
}
