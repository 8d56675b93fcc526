/**
 * The arrows of ARCHITECTURE.md are a lint rule (eslint.config.js, `no-restricted-imports` per
 * room). These tests lint small in-memory sources placed in each room with the project's own
 * config, so a rule that stops matching (a renamed folder, a typo in a regex) fails here.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const eslint = new ESLint({ cwd: repo });

/** The no-restricted-imports messages for `source` linted as if it were the file `file`. */
async function violations(file: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: path.join(repo, file) });
  return result!.messages
    .filter((m) => m.ruleId === 'no-restricted-imports' || m.fatal)
    .map((m) => m.message);
}

const use = (spec: string): string => `import * as x from '${spec}';\nexport const y = x;\n`;

describe('the architecture lint rule', () => {
  it.each([
    ['src/core/new.ts', '../tools/registry.js', 'tools/'],
    ['src/core/new.ts', '../providers/types.js', 'providers/'],
    ['src/tools/new.ts', '../nvim/editor.js', 'nvim/'],
    ['src/tools/new.ts', '../providers/registry.js', 'providers/'],
    ['src/tools/new.ts', '../auth/github.js', 'auth/'],
    ['src/providers/new.ts', '../auth/github.js', 'auth/'],
    ['src/providers/new.ts', '../tools/registry.js', 'tools/'],
    ['src/auth/new.ts', '../providers/types.js', 'providers/'],
    ['src/mcp/hub/new.ts', '../../nvim/host.js', 'nvim/'],
    ['src/mcp/new.ts', '../cli/main.js', 'cli/'],
    ['src/cli/commands/new.ts', '../../nvim/editor.js', 'nvim/'],
    ['src/plugins/new.ts', '../mcp/server.js', 'mcp/'],
    ['src/sandbox/new.ts', '../plugins/worker.js', 'plugins/'],
    ['src/sandbox/new.ts', '../tools/registry.js', 'tools/'],
    ['src/tools/new.ts', '../sandbox/sandbox.js', 'sandbox/'],
    ['src/core/new.ts', '../sandbox/sandbox.js', 'sandbox/'],
    ['src/nvim/chat/new.ts', '../../cli/main.js', 'cli/'],
    ['src/chat/new.ts', '../nvim/host.js', 'nvim/'],
    ['src/chat/new.ts', '../mcp/server.js', 'mcp/'],
    ['src/tools/new.ts', '../chat/runner.js', 'chat/'],
  ])('refuses %s importing %s', async (file, spec, target) => {
    const found = await violations(file, use(spec));
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(`may not import ${target}`);
  });

  it('keeps the neovim client out of the rooms that use the Editor port', async () => {
    for (const file of [
      'src/core/new.ts',
      'src/tools/new.ts',
      'src/providers/new.ts',
      'src/sandbox/new.ts',
      'src/chat/new.ts',
    ]) {
      const found = await violations(file, use('neovim'));
      expect(found, file).toHaveLength(1);
      expect(found[0]).toContain('Only nvim/ speaks to Neovim');
    }
  });

  it.each([
    ['src/nvim/new.ts', '../mcp/server.js'],
    ['src/nvim/chat/new.ts', '../../tools/registry.js'],
    ['src/nvim/new.ts', 'neovim'],
    ['src/mcp/new.ts', '../tools/registry.js'],
    ['src/cli/commands/new.ts', '../../mcp/proxy.js'],
    ['src/providers/new.ts', '../core/errors.js'],
    ['src/nvim/chat/new.ts', '../tools.js'],
    ['src/sandbox/new.ts', '../core/which.js'],
    ['src/plugins/new.ts', '../sandbox/sandbox.js'],
    ['src/mcp/hub/new.ts', '../../sandbox/sandbox.js'],
    ['src/nvim/new.ts', '../sandbox/sandbox.js'],
    ['src/chat/new.ts', '../tools/registry.js'],
    ['src/chat/new.ts', '../providers/types.js'],
    ['src/cli/commands/new.ts', '../../chat/runner.js'],
    ['src/nvim/chat/new.ts', '../../chat/runner.js'],
    // The documented exceptions.
    ['src/providers/copilot.ts', '../auth/github.js'],
    ['src/tools/ai-tools.ts', '../providers/types.js'],
  ])('allows %s importing %s', async (file, spec) => {
    expect(await violations(file, use(spec))).toEqual([]);
  });
});
