/**
 * Where MCP server definitions come from, and reloading them when a file
 * changes — without restarting Neovim.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import { ConfigError, toRuneError } from '../../core/errors.js';
import { mergeServers, parseServer, readConfigFile, type ServerConfig } from './config.js';

/**
 * The files read, lowest precedence first: the global file, then the
 * project's (`.vscode/mcp.json`, `.mcp.json`, `.rune/mcp.json`).
 */
export function defaultHubFiles(cwd: string, configHome: string): string[] {
  return [
    path.join(configHome, 'rune', 'mcp.json'),
    path.join(cwd, '.vscode', 'mcp.json'),
    path.join(cwd, '.mcp.json'),
    path.join(cwd, '.rune', 'mcp.json'),
  ];
}

export interface LoadResult {
  servers: ServerConfig[];
  /** One error per broken file (or inline entry); the other files still load. */
  errors: ConfigError[];
}

/**
 * Reads every file, then the servers given inline in `setup({ mcp = { servers = … } })`,
 * later definitions replacing earlier ones of the same name.
 */
export function loadServers(
  files: string[],
  inline: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): LoadResult {
  const lists: ServerConfig[][] = [];
  const errors: ConfigError[] = [];
  for (const file of files) {
    try {
      lists.push(readConfigFile(file, env));
    } catch (err) {
      const e = toRuneError(err);
      errors.push(e instanceof ConfigError ? e : new ConfigError(file, e.message));
    }
  }
  const own: ServerConfig[] = [];
  for (const [name, raw] of Object.entries(inline)) {
    try {
      own.push(parseServer(name, raw, 'setup()', `mcp.servers.${name}`, env));
    } catch (err) {
      const e = toRuneError(err);
      errors.push(e instanceof ConfigError ? e : new ConfigError(`mcp.servers.${name}`, e.message));
    }
  }
  lists.push(own);
  return { servers: mergeServers(...lists), errors };
}

function nearestExisting(dir: string): string {
  let d = dir;
  while (!fs.existsSync(d) && path.dirname(d) !== d) d = path.dirname(d);
  return d;
}

/**
 * Watches the config files — including ones that do not exist yet — and
 * calls `onChange` (debounced) when any is added, changed or removed. Only
 * the files and their parent folders are watched, never whole trees.
 */
export class HubConfigWatcher {
  private readonly watcher: FSWatcher;
  private timer: NodeJS.Timeout | undefined;
  readonly ready: Promise<void>;

  constructor(files: string[], onChange: () => void, debounceMs = 100) {
    const allowed = new Set<string>();
    const roots = new Set<string>();
    for (const f of files.map((x) => path.resolve(x))) {
      for (let p = f; path.dirname(p) !== p; p = path.dirname(p)) allowed.add(p);
      roots.add(nearestExisting(path.dirname(f)));
    }
    this.watcher = watch([...roots], {
      ignoreInitial: true,
      depth: 3,
      ignored: (p: string) => !allowed.has(path.resolve(p)),
    });
    this.watcher.on('all', () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(onChange, debounceMs);
    });
    this.ready = new Promise((resolve) => this.watcher.once('ready', () => resolve()));
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.watcher.close();
  }
}
