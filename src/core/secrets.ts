/**
 * Resolves a secret reference from the config into its value:
 *
 *   env:NAME            the environment variable NAME
 *   cmd:pass show x     a command's stdout (trimmed), run without a shell; the words are
 *                       split on spaces, "double" or 'single' quotes keep spaces together
 *   file:~/path         a file's contents (trimmed)
 *   keyring:name        the OS keyring, through a SecretStore (the seam for the secret
 *                       store; without one, a clear error)
 *   anything else       the literal value (discouraged: it sits in your config)
 *
 * Failures are AuthErrors that say which variable, command or file to fix. Resolved
 * values should be registered with the logger (`logger.addSecret`) so they never reach
 * a log line.
 */
import { expandHome } from './home.js';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { AuthError } from './errors.js';

/** Where `keyring:` references are looked up. Implemented by the secret store (auth/). */
export interface SecretStore {
  /** The secret saved under `name`, or undefined when there is none. */
  get(name: string): Promise<string | undefined>;
}

export interface SecretDeps {
  env?: NodeJS.ProcessEnv;
  store?: SecretStore;
  /** How long a `cmd:` may run, ms (default 15 s). */
  cmdTimeoutMs?: number;
}

/** What the reference points at, for messages ("set the environment variable X"). */
export function describeSecretRef(ref: string): string {
  if (ref.startsWith('env:')) return `the environment variable ${ref.slice(4)}`;
  if (ref.startsWith('cmd:')) return `the command \`${ref.slice(4).trim()}\``;
  if (ref.startsWith('file:')) return `the file ${ref.slice(5)}`;
  if (ref.startsWith('keyring:')) return `the keyring entry "${ref.slice(8)}"`;
  return 'the literal value in your config';
}

/** Splits a command line into argv without a shell: spaces separate, quotes group. */
export function splitArgv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (/\s/.test(ch)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (has || cur) out.push(cur);
  return out;
}

/**
 * The secret's value. `forWhat` names who needs it in messages, e.g.
 * `providers.claude.api_key`.
 */
export async function resolveSecret(
  ref: string,
  forWhat: string,
  deps: SecretDeps = {},
): Promise<string> {
  const env = deps.env ?? process.env;
  if (ref.startsWith('env:')) {
    const name = ref.slice(4).trim();
    const v = env[name]?.trim();
    if (!v) {
      throw new AuthError(
        `${forWhat}: the environment variable ${name} is not set. Set it (export ${name}=...) before starting Neovim, or point ${forWhat} at "cmd:<command>" or "file:<path>".`,
      );
    }
    return v;
  }
  if (ref.startsWith('cmd:')) {
    const line = ref.slice(4).trim();
    let argv: string[];
    try {
      argv = splitArgv(line);
    } catch (err) {
      throw new AuthError(`${forWhat}: cannot read the command \`${line}\`: ${String(err)}.`);
    }
    const [file, ...args] = argv;
    if (!file)
      throw new AuthError(`${forWhat}: "cmd:" needs a command, e.g. "cmd:pass show openai".`);
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        expandHome(file),
        args,
        { timeout: deps.cmdTimeoutMs ?? 15_000, env, maxBuffer: 1 << 20, shell: false },
        (err, stdout, stderr) => {
          if (err) {
            const detail = String(stderr || err.message)
              .trim()
              .split('\n')[0];
            reject(
              new AuthError(
                `${forWhat}: the command \`${line}\` failed (${detail}). Run it in a terminal to check it prints the key.`,
              ),
            );
          } else resolve(stdout);
        },
      );
    });
    const v = out.trim();
    if (!v) {
      throw new AuthError(
        `${forWhat}: the command \`${line}\` printed nothing. Make it print the key on stdout.`,
      );
    }
    return v;
  }
  if (ref.startsWith('file:')) {
    const p = expandHome(ref.slice(5).trim());
    let v: string;
    try {
      v = (await readFile(p, 'utf8')).trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new AuthError(
        `${forWhat}: cannot read the key file ${p} (${code}). Create it or fix the path.`,
      );
    }
    if (!v) throw new AuthError(`${forWhat}: the key file ${p} is empty. Put the key in it.`);
    return v;
  }
  if (ref.startsWith('keyring:')) {
    const name = ref.slice(8).trim();
    if (!deps.store) {
      throw new AuthError(
        `${forWhat}: no keyring store is available for "keyring:${name}". Use "env:", "cmd:" or "file:" instead.`,
      );
    }
    const v = await deps.store.get(name);
    if (!v) {
      throw new AuthError(
        `${forWhat}: the keyring has no entry "${name}". Save the key there first.`,
      );
    }
    return v;
  }
  return ref;
}
