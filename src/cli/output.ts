/**
 * Exit codes and output helpers shared by the CLI's commands. `EXIT_CODES` is
 * the one table of exit codes: `rune --help` prints it, and `:help
 * rune-cli-exit-codes` must say the same (a test compares them).
 */
import { toRuneError } from '../core/errors.js';

export const EXIT = { ok: 0, failed: 1, usage: 2, unavailable: 3, interrupted: 130 } as const;

/** What each exit code means, in the order `rune --help` lists them. */
export const EXIT_CODES: readonly { code: number; meaning: string }[] = [
  { code: EXIT.ok, meaning: 'success' },
  { code: EXIT.failed, meaning: 'the operation failed (the message says why)' },
  { code: EXIT.usage, meaning: 'bad usage (unknown command or option, bad JSON)' },
  {
    code: EXIT.unavailable,
    meaning: 'nothing to talk to (no running Neovim, an unreachable provider)',
  },
  { code: EXIT.interrupted, meaning: 'interrupted (Ctrl-C)' },
];

/** The exit code table as `rune --help` prints it. */
export function exitCodeHelp(): string {
  return `\nExit codes:\n${EXIT_CODES.map((e) => `  ${String(e.code).padEnd(4)}${e.meaning}`).join('\n')}\n`;
}

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
