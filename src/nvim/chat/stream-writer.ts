/**
 * Coalesces streamed deltas into at most one buffer write per frame.
 *
 * A model can send hundreds of tiny deltas a second; writing each one would
 * flood Neovim with RPC calls and redraws and make typing elsewhere stutter.
 * The writer keeps what arrived since the last write and writes it in one
 * call once a frame (default 16 ms) has passed, and never has more than one
 * write in flight: while Neovim is busy, text simply accumulates.
 *
 * A delta that arrives when no write happened for a frame (the answer's first
 * one above all) is written at once, in the same turn of the event loop: the
 * user sees the answer start as soon as the provider sends it, and only the
 * deltas that follow it closely wait to be coalesced.
 */

/** Appends text where the stream ends; resolves false when the target is gone. */
export type WriteSink = (text: string) => Promise<boolean>;

export interface StreamWriterOptions {
  /** Minimum time between two writes, ms (default 16, about one frame at 60 Hz). */
  frameMs?: number;
  /** Called once when the sink reports its target gone or fails. */
  onGone?: (err?: unknown) => void;
}

export class StreamWriter {
  private pending = '';
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private lastWriteAt = -Infinity;
  private gone = false;
  private readonly frameMs: number;
  /** Number of writes made (for benchmarks and logs). */
  writes = 0;
  /** Characters written. */
  chars = 0;

  constructor(
    private readonly sink: WriteSink,
    private readonly opts: StreamWriterOptions = {},
  ) {
    this.frameMs = opts.frameMs ?? 16;
  }

  /** Queues `delta`; it reaches the buffer within about one frame. */
  push(delta: string): void {
    if (this.gone || !delta) return;
    this.pending += delta;
    this.schedule();
  }

  /** Writes everything queued now and waits until Neovim has it. */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    while (this.inflight) await this.inflight;
    if (this.pending) await this.writeNow();
  }

  /** Drops anything queued and stops writing. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = '';
    this.gone = true;
  }

  private schedule(): void {
    if (this.timer || this.inflight || !this.pending || this.gone) return;
    const wait = this.lastWriteAt + this.frameMs - performance.now();
    if (wait <= 0) {
      void this.writeNow();
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.writeNow();
    }, wait);
  }

  private async writeNow(): Promise<void> {
    if (!this.pending || this.gone) return;
    const text = this.pending;
    this.pending = '';
    this.lastWriteAt = performance.now();
    const run = (async () => {
      try {
        const ok = await this.sink(text);
        this.writes++;
        this.chars += text.length;
        if (!ok) this.markGone();
      } catch (err) {
        this.markGone(err);
      }
    })();
    this.inflight = run;
    await run;
    this.inflight = undefined;
    this.schedule();
  }

  private markGone(err?: unknown): void {
    if (this.gone) return;
    this.close();
    this.opts.onGone?.(err);
  }
}
