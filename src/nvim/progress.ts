/**
 * Progress of long work shown in Neovim, updated in place by key (lua/rune/progress.lua
 * draws it: Neovim's progress messages where the version has them, one echo line
 * otherwise). Failures to draw are logged, never thrown: progress is a courtesy.
 */
import type { ReadyHost } from './host.js';

export interface Progress {
  title: string;
  text: string;
  percent?: number;
  status: 'running' | 'success' | 'failed' | 'cancel';
}

export function showProgress(host: ReadyHost, key: string, p: Progress): Promise<void> {
  return host.nvim
    .lua('require("rune.progress").update(...)', [key, p])
    .then(() => undefined)
    .catch((err: unknown) => host.logger.debug('progress update failed', { err }));
}
