/**
 * The package's public surface, as a plugin author's project sees the installed package:
 * `rune.nvim/plugins` resolves to the built plugin API with its type declarations, and no
 * internal file of dist/ is reachable through the package name.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/dist.js';

const run = promisify(execFile);

let project: string;
beforeAll(() => {
  // A plugin author's project with Rune installed under node_modules.
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-package-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'rune.nvim'), 'dir');
  fs.writeFileSync(path.join(project, 'package.json'), '{ "type": "module" }\n');
});
afterAll(() => fs.rmSync(project, { recursive: true, force: true }));

/** Runs `source` as an ES module in the author's project; its stdout. */
async function node(source: string): Promise<string> {
  const file = path.join(project, `probe-${Math.random().toString(36).slice(2)}.mjs`);
  fs.writeFileSync(file, source);
  const { stdout } = await run(process.execPath, [file], { cwd: project });
  return stdout.trim();
}

/** Type-checks `source` as a TypeScript file of the author's project; the error messages. */
function typecheck(source: string): string[] {
  const file = path.join(project, 'plugin.ts');
  fs.writeFileSync(file, source);
  const program = ts.createProgram([file], {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2023,
    strict: true,
    noEmit: true,
    types: [],
  });
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('the package exports', () => {
  it('loads the plugin API through rune.nvim/plugins', async () => {
    const out = await node(
      `import { definePlugin } from 'rune.nvim/plugins';
       console.log(JSON.stringify(definePlugin({ id: 'p', version: '1.0.0' })));`,
    );
    expect(JSON.parse(out)).toEqual({ id: 'p', version: '1.0.0' });
  });

  it('keeps internal files of dist/ out of reach of the package name', async () => {
    const out = await node(
      `try { await import('rune.nvim/dist/core/log.js'); console.log('loaded'); }
       catch (e) { console.log(e.code); }`,
    );
    expect(out).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('ships type declarations for the plugin API', () => {
    const good = `import { definePlugin, type PluginDefinition } from 'rune.nvim/plugins';
      export const p: PluginDefinition = definePlugin({
        id: 'word-count',
        version: '1.0.0',
        capabilities: ['network'],
        tools: [{
          name: 'word_count',
          description: 'Counts words',
          inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
          handler: ({ text }) => String(String(text).split(/\\s+/).length),
        }],
      });\n`;
    expect(typecheck(good)).toEqual([]);
    // The declarations are the real ones, not an untyped module: a wrong capability is caught.
    const bad = good.replace("'network'", "'root'");
    expect(typecheck(bad).join('\n')).toContain(
      `Type '"root"' is not assignable to type 'Capability'`,
    );
  });
});
