/**
 * Whether dist/ holds a build of the current sources. Used by the end-to-end
 * suite's global setup (so it imports nothing that needs a running test).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');

/**
 * Why dist/ cannot be trusted, or undefined when it can: every `src/**\/*.ts` needs its
 * `dist/**\/*.js` (tsconfig.build.json maps src/ to dist/), written after the source was.
 */
export function distProblem(root = ROOT): string | undefined {
  const src = path.join(root, 'src');
  const dist = path.join(root, 'dist');
  const fix = 'run `npm run build` first';
  if (!fs.existsSync(path.join(dist, 'cli', 'main.js'))) {
    return `${path.join(dist, 'cli', 'main.js')} is missing: ${fix}`;
  }
  const stale: string[] = [];
  for (const rel of fs.readdirSync(src, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith('.ts') || rel.endsWith('.d.ts')) continue;
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
  if (stale.length === 0) return undefined;
  const shown =
    stale.slice(0, 5).join(', ') + (stale.length > 5 ? `, … ${stale.length} in all` : '');
  return `dist/ is older than src/: ${shown}; ${fix}`;
}
