/**
 * The end-to-end suite's guard (test/helpers/dist.ts): it must refuse a dist/ that is
 * missing or was built before the sources last changed, and name what is stale.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { distProblem } from '../helpers/dist.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-dist-check-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function write(rel: string, ageSeconds: number): void {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  const when = new Date(Date.now() - ageSeconds * 1000);
  fs.utimesSync(file, when, when);
}

describe('the check that dist/ is built from the current src/', () => {
  it('says how to build when dist/ is missing, names stale files, and accepts a fresh build', () => {
    write('src/cli/main.ts', 100);
    write('src/core/errors.ts', 100);
    write('src/core/types.d.ts', 1);
    expect(distProblem(root)).toBe(
      `${path.join(root, 'dist', 'cli', 'main.js')} is missing: run \`npm run build\` first`,
    );
    write('dist/cli/main.js', 50);
    expect(distProblem(root)).toBe(
      'dist/ is older than src/: core/errors.ts (no dist/core/errors.js), the host bundle (no dist/host/main.js), the host bundle (no dist/host/rplugin.js); run `npm run build` first',
    );
    write('dist/core/errors.js', 50);
    expect(distProblem(root)).toBe(
      'dist/ is older than src/: the host bundle (no dist/host/main.js), the host bundle (no dist/host/rplugin.js); run `npm run build` first',
    );
    write('dist/host/main.js', 50);
    write('dist/host/rplugin.js', 50);
    expect(distProblem(root)).toBeUndefined();
    // The bundler changed: the bundle is stale, though every file tsc writes is fresh.
    write('scripts/bundle.mjs', 20);
    expect(distProblem(root)).toBe(
      'dist/ is older than src/: the host bundle (dist/host/main.js), the host bundle (dist/host/rplugin.js); run `npm run build` first',
    );
    write('dist/host/main.js', 10);
    write('dist/host/rplugin.js', 10);
    write('src/core/errors.ts', 5);
    expect(distProblem(root)).toBe(
      'dist/ is older than src/: core/errors.ts (changed since), the host bundle (dist/host/main.js), the host bundle (dist/host/rplugin.js); run `npm run build` first',
    );
  });
});
