#!/usr/bin/env node
/**
 * The host entry: started by the Lua layer with `jobstart({ node, main.js }, { rpc = true })`.
 * stdin/stdout are the msgpack-RPC channel to Neovim, so nothing else may
 * write to stdout. Logs go to the file named by RUNE_LOG_FILE; stderr carries
 * only fatal messages, which the Lua layer shows to the user.
 */
// attach() alone: the package's index also loads its plugin host and finder of Neovim
// binaries (child_process, readline, fs watchers…), which the host has no use for.
import { attach } from 'neovim/lib/attach/attach.js';
import * as nodeModule from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { createFileLogger, nullLogger, type Logger, type LogLevel } from '../core/log.js';
import { StartingHost, type ReadyHost } from './host.js';
import { clientLogger } from './client-logger.js';
import { MsgpackFrames } from './msgpack-frames.js';
import type { AnyModule } from './module.js';

function fatal(message: string): void {
  process.stderr.write(`rune: ${message}\n`);
}

function createLogger(): Logger {
  const file = process.env.RUNE_LOG_FILE;
  if (!file) return nullLogger;
  try {
    return createFileLogger({ file, level: (process.env.RUNE_LOG_LEVEL as LogLevel) || 'info' });
  } catch (err) {
    fatal(`cannot open log file ${file}: ${(err as Error).message}`);
    return nullLogger;
  }
}

const logger = createLogger();
const logFile = process.env.RUNE_LOG_FILE ?? null;

/** A write to Neovim after it went away: the end of the session, not a fault of the host. */
function isChannelGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return (
    code === 'EPIPE' || code === 'ERR_STREAM_DESTROYED' || code === 'ERR_STREAM_WRITE_AFTER_END'
  );
}

process.on('uncaughtException', (err) => {
  if (isChannelGone(err)) {
    editorGone('neovim gone');
    return;
  }
  logger.error('uncaught exception', { err });
  fatal(`crashed: ${err.message}`);
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  logger.error('unhandled rejection', { err: reason });
});

const nvim = attach({
  // Whole messages to the decoder: a large answer is joined once, not once per chunk.
  reader: process.stdin.pipe(new MsgpackFrames()),
  writer: process.stdout,
  options: { logger: clientLogger(logger) },
});

const starting = new StartingHost({
  nvim,
  logger,
  logFile,
  onStopped: (code) => {
    // Give the log a tick to settle, then leave.
    setImmediate(() => process.exit(code));
  },
});

let host: ReadyHost | undefined;
/** A stop asked for while Neovim runs (`jobstop`, :RuneStop): work in flight gets its grace. */
function stop(reason: string): void {
  if (host) void host.shutdown(reason).done;
  else process.exit(0);
}
/** Neovim exited or was killed: nothing can finish against it, so no grace. */
function editorGone(reason: string): void {
  if (host) void host.shutdown(reason, { editorGone: true }).done;
  else process.exit(0);
}
for (const stream of [process.stdout, process.stdin]) {
  stream.on('error', (err) => {
    logger.info('channel to neovim closed', { code: (err as NodeJS.ErrnoException).code });
    editorGone('neovim gone');
  });
}
process.stdin.on('end', () => editorGone('stdin closed'));
process.stdin.on('close', () => editorGone('stdin closed'));
nvim.on('disconnect', () => editorGone('neovim disconnected'));
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

/**
 * The features, loaded once the host is ready. Source maps are switched on first, so that
 * stack traces in the log name src/ files for the code loaded from here on (all the
 * features); reading a bundle's map costs its load about a tenth more, which the way to ready
 * does not pay.
 */
async function loadModules(): Promise<AnyModule[]> {
  process.setSourceMapsEnabled(true);
  enableCompileCache();
  return (await import('./modules.js')).defaultModules();
}

/**
 * Node 22.1+ keeps the code it compiled for the host's chunks in Rune's cache folder
 * (`$XDG_CACHE_HOME/rune/node-compile-cache`), so that the next start compiles less; older
 * Node has no `module.enableCompileCache`: there the entry compiles the host bundle itself with
 * V8's code cache (scripts/bundle/main.cjs, saveCodeCache), and the features' chunks as before. A folder that cannot be
 * written only costs the saving (Node reports that in the result, nothing is thrown).
 */
function enableCompileCache(): void {
  const enable = (nodeModule as { enableCompileCache?: (dir?: string) => unknown })
    .enableCompileCache;
  if (!enable) return;
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  try {
    enable(path.join(cache, 'rune', 'node-compile-cache'));
  } catch (err) {
    logger.warn('the compile cache could not be enabled', { err });
  }
}

// The features load after the host is ready: the way to ready holds only the RPC client
// and the host core (what loads before ready is checked by test/e2e/startup.test.ts).
starting
  .ready(loadModules, {
    onReady: (ready) => {
      host = ready;
    },
  })
  // Once the modules have started: the code cache then holds what they ran of the host core.
  // Imported then (it writes with node:crypto's help, which the way to ready does not load).
  .then(async () => (await import('./code-cache.js')).saveCodeCache(logger))
  .catch((err: unknown) => {
    fatal(`host failed to start: ${err instanceof Error ? err.message : String(err)}`);
    starting.fail(err);
  });
