/**
 * Hot reload: watches the plugin sources and, after a short debounce that
 * merges the events of one save, hands the changed entry files to `reload`.
 * Which plugins a change affects (the changed ones and their dependents) is
 * `reloadSet`; the manager stops and loads them.
 */
import * as fs from 'node:fs';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from '../core/log.js';
import { entryFor, type PluginSource } from './discovery.js';

export interface PluginWatcherOptions {
  sources: readonly PluginSource[];
  logger: Logger;
  /** The entry files loaded now (for a plugin directory whose index is gone). */
  loaded(): Iterable<string>;
  /** The mtime of an entry file when it was last imported. */
  loadedMtime(entry: string): number | undefined;
  /** Called with the entry files that changed. */
  reload(files: Set<string>): void;
}

export class PluginWatcher {
  private watcher: FSWatcher | undefined;
  private pending = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: PluginWatcherOptions) {}

  /** Starts watching; resolves once the watcher is ready. */
  async start(): Promise<void> {
    const paths = this.opts.sources.map((s) => s.path).filter((p) => fs.existsSync(p));
    if (!paths.length) return;
    // No awaitWriteFinish (it adds its polling delay to every reload): the
    // debounce below merges the events of one save, and a file caught half
    // written fails to import and is loaded again on the write that completes it.
    this.watcher = watch(paths, { ignoreInitial: true, depth: 2 });
    const schedule = (entry: string): void => {
      this.pending.add(entry);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        const files = this.pending;
        this.pending = new Set();
        if (!this.closed) this.opts.reload(files);
      }, 10);
    };
    const onEvent = (file: string): void => {
      const entry = entryFor(this.opts.sources, file, () => this.opts.loaded());
      if (!entry) return;
      schedule(entry);
      // chokidar drops a second change of the same path within 50 ms; look again after that.
      setTimeout(() => {
        if (this.closed) return;
        let mtime: number | undefined;
        try {
          mtime = fs.statSync(entry).mtimeMs;
        } catch {
          mtime = undefined;
        }
        if (mtime !== undefined && mtime !== this.opts.loadedMtime(entry)) schedule(entry);
      }, 80).unref();
    };
    this.watcher.on('add', onEvent).on('change', onEvent).on('unlink', onEvent);
    this.watcher.on('error', (err) => this.opts.logger.warn('plugin watcher error', { err }));
    await new Promise<void>((r) => this.watcher!.once('ready', () => r()));
  }

  /** Stops watching; no reload is handed on after this. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.watcher?.close();
  }
}

/** What a reload must stop and load again: the plugins of `files`, those waiting on a dependency, and their dependents. */
export function reloadSet<
  P extends { id: string; file: string; dependsOn: string[]; dependencyProblem?: boolean },
>(plugins: Iterable<P>, files: ReadonlySet<string>): Set<P> {
  const all = [...plugins];
  const affected = new Set<P>();
  for (const p of all) {
    if (files.has(p.file) || p.dependencyProblem) affected.add(p);
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (affected.has(p)) continue;
      if (p.dependsOn.some((d) => [...affected].some((a) => a.id === d))) {
        affected.add(p);
        grew = true;
      }
    }
  }
  return affected;
}
