/**
 * Exit codes and output helpers shared by the CLI's commands.
 *
 *   0  success
 *   1  the operation failed (the message says why)
 *   2  bad usage: unknown option, bad JSON argument
 *   3  nothing to talk to: no running Neovim, provider unreachable
 *   130 interrupted (Ctrl-C)
 */
import { toRuneError } from '../core/errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3, interrupted: 130 } as const;

/** An error with the exit code it should end the process with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

/** The exit code an error deserves. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  const e = toRuneError(err);
  if (e.code === 'aborted') return EXIT.interrupted;
  if (e.code === 'not_found' || e.code === 'unavailable' || e.code === 'timeout') {
    return EXIT.unavailable;
  }
  return EXIT.failed;
}

/** Prints `value` as JSON or, for people, as the text `human` makes of it. */
export function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : human());
}

/** Parses a JSON argument, failing with a usage error that names it. */
export function parseJsonArg(text: string | undefined, what: string): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${what} is not valid JSON: ${(err as Error).message}`, EXIT.usage);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new CliError(`${what} must be a JSON object, like '{"path": "README.md"}'`, EXIT.usage);
  }
  return v as Record<string, unknown>;
}

/** An AbortSignal that fires on Ctrl-C (SIGINT). */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort(new Error('interrupted')));
  return ac.signal;
}
