/**
 * The host core as loaded by the classic remote-plugin entry
 * (rplugin/node/rune). The node-client's plugin host owns the channel there,
 * so Rune's Lua layer reaches this core through two remote functions,
 * `RuneRequest(method, args)` and `RuneNotify(method, args)`, instead of
 * `rpcrequest` on a channel of its own. Everything behind them is the same.
 */
import type { NeovimClient } from 'neovim';
import { createFileLogger, nullLogger, type Logger } from '../core/log.js';
import { toRuneError } from '../core/errors.js';
import { StartingHost, type ReadyHost } from './host.js';

let ready: Promise<ReadyHost> | undefined;

async function openLogger(nvim: NeovimClient): Promise<{ logger: Logger; file: string | null }> {
  try {
    const file = (await nvim.lua('return require("rune.host").log_file()', [])) as string;
    return { logger: createFileLogger({ file }), file };
  } catch {
    return { logger: nullLogger, file: null };
  }
}

/** The ready host for this plugin process, started on first use. */
export function hostFor(nvim: NeovimClient): Promise<ReadyHost> {
  ready ??= (async () => {
    const { logger, file } = await openLogger(nvim);
    const starting = new StartingHost({ nvim, logger, logFile: file, listen: false });
    return starting.ready(async () => (await import('./modules.js')).defaultModules());
  })();
  ready.catch(() => {
    ready = undefined;
  });
  return ready;
}

export async function request(
  nvim: NeovimClient,
  method: string,
  args: unknown[],
): Promise<unknown> {
  const host = await hostFor(nvim);
  try {
    return await host.dispatch(method, args);
  } catch (err) {
    // The plugin host turns a thrown error into the error string Neovim shows.
    throw new Error(toRuneError(err).message);
  }
}

export async function notify(nvim: NeovimClient, method: string, args: unknown[]): Promise<void> {
  const host = await hostFor(nvim);
  host.dispatchNotification(method, args);
}
