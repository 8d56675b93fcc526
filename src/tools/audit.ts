/**
 * The audit log: one JSON line per tool call (time, client, tool, arguments
 * summary, outcome, duration) in a file only the user can read, plus the
 * most recent calls in memory for `:RuneMcp`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../core/log.js';
import { summarize } from './approval.js';
import { errorResult, type CallGate } from './registry.js';

export interface AuditEntry {
  t: string;
  client: string;
  session?: string;
  tool: string;
  args: string[];
  result: 'ok' | 'error' | 'denied' | 'cancelled';
  /** The first line of an error result. */
  error?: string;
  ms: number;
}

export class AuditLog {
  private readonly recentCalls: AuditEntry[] = [];
  /** Opened on the first call and kept: one write per call, not open + write + close. */
  private fd: number | undefined;
  private opening = false;
  /** Lines recorded while the file opens. */
  private waiting: string[] = [];

  constructor(
    /** The log file, or null to keep entries in memory only. */
    readonly file: string | null,
    private readonly logger: Logger,
    private readonly keep = 50,
  ) {
    if (!file) return;
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Rotated once per start: the log stays bounded without a check on every call.
    try {
      if (fs.statSync(file).size > AuditLog.MAX_BYTES) fs.renameSync(file, `${file}.1`);
    } catch {
      // no log yet
    }
  }

  /** Past this size the log is moved to `<file>.1` when the next server starts. */
  static MAX_BYTES = 10 * 1024 * 1024;

  record(entry: AuditEntry): void {
    this.recentCalls.push(entry);
    if (this.recentCalls.length > this.keep) this.recentCalls.shift();
    if (!this.file) return;
    const line = JSON.stringify(entry) + '\n';
    const file = this.file;
    // Opened once, asynchronously; each line is then one synchronous append to the
    // page cache (microseconds), which costs less than a trip through libuv's thread pool
    // and leaves the line in the kernel before the call's answer is sent. A raw
    // descriptor (not a FileHandle, which would be closed when collected), kept for the
    // host's life.
    if (this.fd !== undefined) {
      this.append(this.fd, line);
      return;
    }
    this.waiting.push(line);
    if (this.opening) return;
    this.opening = true;
    fs.open(file, 'a', 0o600, (err, fd) => {
      this.opening = false;
      const lines = this.waiting.splice(0).join('');
      if (err) return this.failed(err);
      this.fd = fd;
      this.append(fd, lines);
    });
  }

  private append(fd: number, text: string): void {
    try {
      fs.writeSync(fd, text);
    } catch (err) {
      fs.close(fd, () => undefined);
      this.fd = undefined;
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.logger.warn('could not write the audit log', { file: this.file, err });
  }

  /** The most recent calls, newest last. */
  recent(): AuditEntry[] {
    return [...this.recentCalls];
  }

  /** Wraps another gate (or none) so every call is recorded with its outcome. */
  wrap(inner?: CallGate): CallGate {
    return async (tool, args, ctx, run) => {
      const started = Date.now();
      const result = inner ? await inner(tool, args, ctx, run).catch(errorResult) : await run();
      const code = result._meta?.['rune/code'];
      const text = result.isError
        ? (result.content.find((c) => c.type === 'text')?.text ?? '').split('\n')[0]
        : undefined;
      this.record({
        t: new Date(started).toISOString(),
        client: ctx.caller.client,
        session: ctx.caller.session,
        tool: tool.def.name,
        args: summarize(args, 60),
        result: !result.isError
          ? 'ok'
          : code === 'denied'
            ? 'denied'
            : code === 'aborted'
              ? 'cancelled'
              : 'error',
        error: text,
        ms: Date.now() - started,
      });
      return result;
    };
  }
}
