/**
 * Plugin discovery: which files under the plugin sources are plugin entries
 * (`*.js`/`*.mjs` files, and directories with an index), and which entry a
 * changed path belongs to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where plugins come from: a directory of plugins or one plugin file. */
export interface PluginSource {
  path: string;
  origin: 'user' | 'project' | 'config';
}

/** A plugin entry file found under a source. */
export interface PluginEntry {
  file: string;
  origin: PluginSource['origin'];
}

const PLUGIN_FILE = /\.(m?js)$/;

/** The plugin entry files under `sources`: `*.js`/`*.mjs` files, and directories with an index. */
export function discoverPlugins(sources: readonly PluginSource[]): PluginEntry[] {
  const out: PluginEntry[] = [];
  const seen = new Set<string>();
  const add = (file: string, origin: PluginEntry['origin']): void => {
    const abs = path.resolve(file);
    if (!seen.has(abs)) {
      seen.add(abs);
      out.push({ file: abs, origin });
    }
  };
  for (const s of sources) {
    let st: fs.Stats;
    try {
      st = fs.statSync(s.path);
    } catch {
      if (s.origin === 'config') add(s.path, s.origin); // reported as "not found"
      continue;
    }
    if (st.isFile()) {
      add(s.path, s.origin);
      continue;
    }
    for (const name of fs.readdirSync(s.path).sort()) {
      if (name.startsWith('.') || name.startsWith('_')) continue;
      const p = path.join(s.path, name);
      const index = indexOf(p);
      if (index) add(index, s.origin);
      else if (PLUGIN_FILE.test(name) && isFile(p)) add(p, s.origin);
    }
  }
  return out;
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function indexOf(dir: string): string | undefined {
  try {
    if (!fs.statSync(dir).isDirectory()) return undefined;
  } catch {
    return undefined;
  }
  for (const n of ['index.mjs', 'index.js']) {
    if (isFile(path.join(dir, n))) return path.join(dir, n);
  }
  return undefined;
}

/**
 * The plugin entry file a changed path belongs to: an entry itself, or a file inside a
 * plugin's directory (`loaded` names the loaded entries, for a directory whose index is gone).
 */
export function entryFor(
  sources: readonly PluginSource[],
  file: string,
  loaded: () => Iterable<string>,
): string | undefined {
  const abs = path.resolve(file);
  for (const s of sources) {
    const root = path.resolve(s.path);
    if (abs === root) return abs;
    if (!abs.startsWith(root + path.sep)) continue;
    const first = abs.slice(root.length + 1).split(path.sep)[0]!;
    if (first.startsWith('.') || first.startsWith('_')) return undefined;
    const top = path.join(root, first);
    if (top === abs) return PLUGIN_FILE.test(first) ? abs : indexOf(abs);
    return indexOf(top) ?? [...loaded()].find((f) => f.startsWith(top + path.sep));
  }
  return undefined;
}
