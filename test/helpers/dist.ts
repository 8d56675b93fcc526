/**
 * Whether dist/ holds a build of the current sources. Used by the end-to-end
 * suite's global setup (so it imports nothing that needs a running test).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

/** The host bundle's entries (scripts/bundle.mjs), which the Lua layer and the rplugin start. */
export const BUNDLE_ENTRIES = ['host/main.js', 'host/rplugin.js'];

/**
 * Why dist/ cannot be trusted, or undefined when it can: every `src/**\/*.ts` needs its
 * `dist/**\/*.js` (tsconfig.build.json maps src/ to dist/), written after the source was,
 * and the host bundle (dist/host/) must be newer than every source and than the bundler's
 * own files (scripts/bundle*).
 */
export function distProblem(root = ROOT): string | undefined {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  const fix = 'run `npm run build` first';
  if (!fs.existsSync(path.join(dist, 'cli', 'main.js'))) {
    return `${path.join(dist, 'cli', 'main.js')} is missing: ${fix}`;
  }
  const stale: string[] = [];
  let newest = 0;
  for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
    newest = Math.max(newest, fs.statSync(path.join(src, rel)).mtimeMs);
    const out = path.join(dist, rel.replace(/\.ts$/, '.js'));
    let built: number;
    try {
      built = fs.statSync(out).mtimeMs;
    } catch {
      stale.push(`${rel} (no ${path.relative(root, out)})`);
      continue;
    }
    if (fs.statSync(path.join(src, rel)).mtimeMs > built) stale.push(`${rel} (changed since)`);
  }
  const scripts = path.join(root, 'scripts');
  for (const rel of fs.existsSync(scripts)
    ? fs.readdirSync(scripts, { recursive: true, encoding: 'utf8' })
    : []) {
    if (rel.startsWith('bundle'))
      newest = Math.max(newest, fs.statSync(path.join(scripts, rel)).mtimeMs);
  }
  for (const rel of BUNDLE_ENTRIES) {
    const out = path.join(dist, rel);
    if (!fs.existsSync(out)) stale.push(`the host bundle (no dist/${rel})`);
    else if (fs.statSync(out).mtimeMs < newest) stale.push(`the host bundle (dist/${rel})`);
  }
  if (stale.length === 0) return undefined;
  const shown =
    stale.slice(0, 5).join(', ') + (stale.length > 5 ? `, … ${stale.length} in all` : '');
  return `dist/ is older than src/: ${shown}; ${fix}`;
}
