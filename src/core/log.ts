import * as fs from 'node:fs';
import * as path from 'node:path';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * A structured logger. Each call writes one JSON object per line:
 * `{"t":"…","level":"info","msg":"…", …fields}`.
 *
 * The host never logs to stdout (stdout is the RPC channel to Neovim), and
 * never logs secrets: fields whose name looks like a credential are redacted,
 * and every value registered with `addSecret` is masked wherever it appears.
 */
export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `bindings` to every line. */
  child(bindings: Record<string, unknown>): Logger;
  /** Masks `secret` in every later line. */
  addSecret(secret: string): void;
}

const SECRET_KEY = /(token|secret|password|passwd|api[-_]?key|authorization|cookie|credential)/i;

interface Sink {
  level: number;
  secrets: Set<string>;
  write(line: string): void;
}

function redactValue(value: unknown, sink: Sink, depth = 0): unknown {
  if (typeof value === 'string') return maskSecrets(value, sink.secrets);
  if (value instanceof Error) {
    return {
      name: value.name,
      message: maskSecrets(value.message, sink.secrets),
      ...('code' in value ? { code: (value as { code: unknown }).code } : {}),
      stack: value.stack ? maskSecrets(value.stack, sink.secrets) : undefined,
    };
  }
  if (depth > 4 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactValue(v, sink, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] =
      SECRET_KEY.test(k) && v !== undefined && v !== null
        ? '[redacted]'
        : redactValue(v, sink, depth + 1);
  }
  return out;
}

function maskSecrets(text: string, secrets: Set<string>): string {
  let out = text;
  for (const s of secrets) {
    if (s.length >= 6 && out.includes(s)) out = out.split(s).join('[redacted]');
  }
  return out;
}

class SinkLogger implements Logger {
  constructor(
    private readonly sink: Sink,
    private readonly bindings: Record<string, unknown>,
  ) {}

  private log(level: LogLevel, msg: string, fields?: Record<string, unknown>): void {
    if (LEVELS[level] < this.sink.level) return;
    const record = redactValue(
      { t: new Date().toISOString(), level, msg, ...this.bindings, ...fields },
      this.sink,
    );
    let line: string;
    try {
      line = JSON.stringify(record);
    } catch {
      line = JSON.stringify({
        t: new Date().toISOString(),
        level,
        msg,
        note: 'unserialisable fields',
      });
    }
    this.sink.write(line + '\n');
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new SinkLogger(this.sink, { ...this.bindings, ...bindings });
  }
  addSecret(secret: string): void {
    if (secret) this.sink.secrets.add(secret);
  }
}

export interface FileLoggerOptions {
  file: string;
  level?: LogLevel;
  /** Rotate when the file grows past this many bytes (default 5 MiB). */
  maxBytes?: number;
}

/**
 * A logger appending to a file (mode 0600), rotating it to `<file>.1` when it
 * grows past `maxBytes`. Writes are synchronous: log lines are small and few,
 * and a synchronous write means the last lines before a crash are on disk —
 * which is exactly when they are needed.
 */
export function createFileLogger(opts: FileLoggerOptions): Logger & { readonly file: string } {
  const maxBytes = opts.maxBytes ?? 5 * 1024 * 1024;
  fs.mkdirSync(path.dirname(opts.file), { recursive: true });
  let fd = fs.openSync(opts.file, 'a', 0o600);
  let size = fs.fstatSync(fd).size;
  const sink: Sink = {
    level: LEVELS[opts.level ?? 'info'],
    secrets: new Set(),
    write(line: string) {
      try {
        if (size > maxBytes) {
          fs.closeSync(fd);
          fs.renameSync(opts.file, `${opts.file}.1`);
          fd = fs.openSync(opts.file, 'a', 0o600);
          size = 0;
        }
        const buf = Buffer.from(line);
        fs.writeSync(fd, buf);
        size += buf.length;
      } catch {
        // Logging must never take the host down.
      }
    },
  };
  const logger = new SinkLogger(sink, {});
  return Object.assign(logger, { file: opts.file });
}

/** A logger that keeps lines in memory; for tests and for tools that have no log file. */
export function createMemoryLogger(level: LogLevel = 'debug'): Logger & { lines: string[] } {
  const lines: string[] = [];
  const sink: Sink = {
    level: LEVELS[level],
    secrets: new Set(),
    write(line: string) {
      lines.push(line);
    },
  };
  return Object.assign(new SinkLogger(sink, {}), { lines });
}

/** A logger that drops everything. */
export const nullLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return nullLogger;
  },
  addSecret() {},
};
