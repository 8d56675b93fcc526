import type { Logger } from '../core/log.js';

/**
 * The `neovim` client wants a winston-shaped logger and, without one, patches
 * `console` and writes through winston. Handing it ours keeps every line in
 * Rune's log file and `console` untouched.
 */
export function clientLogger(logger: Logger) {
  const format = (args: unknown[]) =>
    args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  const fn =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (...args: unknown[]) => {
      logger[level](`neovim-client: ${format(args)}`);
      return undefined;
    };
  // The client only calls these four methods and reads `level`; the cast is the
  // narrowest way to satisfy its winston `Logger` type without depending on winston.
  return {
    level: 'info',
    debug: fn('debug'),
    // The client logs every message it handles at info ("handleNotification: %s"), each
    // key of inline completion included: traces, so debug lines, not a log write per key.
    info: fn('debug'),
    warn: fn('warn'),
    error: fn('error'),
  } as unknown as NonNullable<
    NonNullable<Parameters<typeof import('neovim').attach>[0]['options']>['logger']
  >;
}
