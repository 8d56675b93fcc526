import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  connectionKey,
  mergeServers,
  parseConfigText,
  readConfigFile,
} from '../../src/mcp/hub/config.js';
import { isProjectFile } from '../../src/nvim/hub/sources.js';

const env = { HOME: '/home/u', GITHUB_TOKEN: 'ghp_x' };

describe('MCP server config', () => {
  it('reads Claude Desktop mcpServers', () => {
    const [s] = parseConfigText(
      JSON.stringify({
        mcpServers: {
          fs: { command: 'npx', args: ['-y', 'server-fs', '${HOME}/src'], env: { A: '1' } },
        },
      }),
      'claude.json',
      env,
    );
    expect(s).toMatchObject({
      name: 'fs',
      transport: 'stdio',
      command: 'npx',
      args: ['-y', 'server-fs', '/home/u/src'],
      env: { A: '1' },
      disabled: false,
    });
  });

  it('reads VS Code servers with types and ${env:VAR} headers', () => {
    const list = parseConfigText(
      JSON.stringify({
        servers: {
          gh: {
            type: 'http',
            url: 'https://example.test/mcp',
            headers: { Authorization: 'Bearer ${env:GITHUB_TOKEN}' },
          },
          legacy: { type: 'sse', url: 'http://127.0.0.1:9/sse' },
          local: { type: 'stdio', command: 'server' },
        },
      }),
      '.vscode/mcp.json',
      env,
    );
    expect(list.map((s) => [s.name, s.transport])).toEqual([
      ['gh', 'http'],
      ['legacy', 'sse'],
      ['local', 'stdio'],
    ]);
    expect(list[0]!.headers.Authorization).toBe('Bearer ghp_x');
  });

  it('reads mcphub servers.json extras', () => {
    const [s] = parseConfigText(
      JSON.stringify({
        mcpServers: {
          x: {
            url: 'http://127.0.0.1:1/mcp',
            disabled: true,
            disabled_tools: ['rm'],
            autoApprove: ['ls'],
          },
        },
      }),
      'servers.json',
      env,
    );
    expect(s).toMatchObject({
      transport: 'auto',
      disabled: true,
      disabledTools: ['rm'],
      autoApprove: ['ls'],
    });
  });

  it('never lets a project file weaken the user settings or read the environment', () => {
    const project = (entry: unknown) =>
      parseConfigText(JSON.stringify({ mcpServers: { x: entry } }), '.mcp.json', env, 'project');
    const [s] = project({
      command: 'srv',
      autoApprove: true,
      sandbox: { network: true, writable: ['out', '/home/u/.ssh', '~/x', '../up'] },
    });
    expect(s!.autoApprove).toBe(false);
    expect(s!.sandbox).toEqual({ writable: ['out'] });
    expect(project({ command: 'srv', sandbox: false })[0]!.sandbox).toBeUndefined();
    expect(project({ command: 'srv', sandbox: true })[0]!.sandbox).toBe(true);
    expect(() =>
      project({ url: 'https://e.test/', headers: { A: 'Bearer ${env:GITHUB_TOKEN}' } }),
    ).toThrow(
      /\.mcp\.json: mcpServers\.x\.headers\.A: uses \$\{env:GITHUB_TOKEN\}, but a project's file cannot read your environment/,
    );
    expect(() => project({ command: 'srv', args: ['${HOME}'] })).toThrow(
      /cannot read your environment/,
    );
    // The same entry in the user's own file keeps its settings.
    const [own] = parseConfigText(
      JSON.stringify({ mcpServers: { x: { command: 'srv', autoApprove: true, sandbox: false } } }),
      'mcp.json',
      env,
    );
    expect(own).toMatchObject({ autoApprove: true, sandbox: false });
  });

  it('tells project files (working tree) from the user own ones', () => {
    const cfg = '/home/u/.config';
    expect(isProjectFile('/w/.mcp.json', '/w', cfg)).toBe(true);
    expect(isProjectFile('/w/.vscode/mcp.json', '/w', cfg)).toBe(true);
    // A dotfiles checkout under ~/.config is still a working tree.
    expect(isProjectFile('/home/u/.config/nvim/.mcp.json', '/home/u/.config/nvim', cfg)).toBe(true);
    expect(isProjectFile('/home/u/.config/rune/mcp.json', '/home/u', cfg)).toBe(false);
    expect(isProjectFile('/etc/rune/mcp.json', '/w', cfg)).toBe(false);
  });

  it('names the file and key in errors', () => {
    const bad = (obj: unknown, file = 'mcp.json') => {
      try {
        parseConfigText(typeof obj === 'string' ? obj : JSON.stringify(obj), file, env);
        return '';
      } catch (e) {
        return (e as Error).message;
      }
    };
    expect(bad('{ nope')).toMatch(/^config: mcp.json: is not valid JSON/);
    expect(bad({ mcpServers: { a: { args: ['x'] } } })).toBe(
      'config: mcp.json: mcpServers.a: needs either "command" (stdio) or "url" (HTTP)',
    );
    expect(bad({ mcpServers: { a: { command: 'x', args: 'not-a-list' } } })).toContain(
      'mcp.json: mcpServers.a.args',
    );
    expect(bad({ mcpServers: { a: { url: 'not a url' } } })).toContain('mcpServers.a.url');
    expect(bad({ mcpServers: { a: { command: 'x', env: { T: '${env:MISSING_VAR}' } } } })).toBe(
      'config: mcp.json: mcpServers.a.env.T: uses ${env:MISSING_VAR} but MISSING_VAR is not set in the environment',
    );
    expect(bad({ mcpServers: { 'bad name!': { command: 'x' } } })).toContain(
      'server names may use',
    );
    expect(bad({ mcpServers: 5 })).toContain('mcp.json: mcpServers');
  });

  it('reads files (missing is empty), merges later over earlier, and keys connections', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hubcfg-'));
    expect(readConfigFile(path.join(dir, 'none.json'))).toEqual([]);
    const g = path.join(dir, 'global.json');
    const p = path.join(dir, 'project.json');
    fs.writeFileSync(
      g,
      JSON.stringify({ mcpServers: { a: { command: 'one' }, b: { command: 'b' } } }),
    );
    fs.writeFileSync(p, JSON.stringify({ servers: { a: { command: 'two' } } }));
    const merged = mergeServers(readConfigFile(g, env), readConfigFile(p, env));
    expect(merged.map((s) => [s.name, s.command, s.source])).toEqual([
      ['a', 'two', p],
      ['b', 'b', g],
    ]);
    const [a1] = readConfigFile(g, env);
    expect(connectionKey(a1!)).not.toBe(connectionKey(merged[0]!));
    expect(connectionKey({ ...a1!, disabledTools: ['x'] })).toBe(connectionKey(a1!));
    fs.rmSync(dir, { recursive: true });
  });
});

describe('MCP config loading and watching', () => {
  it('loads every file, keeps going past a broken one, and adds inline servers', async () => {
    const { loadServers, defaultHubFiles } = await import('../../src/mcp/hub/loader.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hubload-'));
    const files = defaultHubFiles(path.join(dir, 'proj'), path.join(dir, 'cfg'));
    fs.mkdirSync(path.dirname(files[0]!), { recursive: true });
    fs.writeFileSync(files[0]!, JSON.stringify({ mcpServers: { g: { command: 'g' } } }));
    fs.mkdirSync(path.dirname(files[1]!), { recursive: true });
    fs.writeFileSync(files[1]!, '{ broken');
    const r = loadServers(files, { mine: { url: 'http://127.0.0.1:1/mcp' }, bad: {} }, env);
    expect(r.servers.map((s) => s.name)).toEqual(['g', 'mine']);
    expect(r.errors.map((e) => e.message)).toEqual([
      `config: ${files[1]}: is not valid JSON: ${(() => {
        try {
          JSON.parse('{ broken');
        } catch (e) {
          return (e as Error).message;
        }
      })()}`,
      'config: mcp.servers.bad: needs either "command" (stdio) or "url" (HTTP)',
    ]);
    fs.rmSync(dir, { recursive: true });
  });

  it('notices files created, changed and removed — even in folders that did not exist', async () => {
    const { HubConfigWatcher, defaultHubFiles } = await import('../../src/mcp/hub/loader.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-hubwatch-'));
    fs.mkdirSync(path.join(dir, 'proj'));
    const files = defaultHubFiles(path.join(dir, 'proj'), path.join(dir, 'cfg'));
    let n = 0;
    const w = new HubConfigWatcher(files, () => n++, 20);
    await w.ready;
    const bump = async (fn: () => void) => {
      const before = n;
      fn();
      for (let i = 0; i < 200 && n === before; i++) await new Promise((r) => setTimeout(r, 20));
      return n > before;
    };
    expect(await bump(() => fs.writeFileSync(files[2]!, '{}'))).toBe(true);
    expect(
      await bump(() => {
        fs.mkdirSync(path.dirname(files[3]!), { recursive: true });
        fs.writeFileSync(files[3]!, '{}');
      }),
    ).toBe(true);
    expect(await bump(() => fs.writeFileSync(files[2]!, '{"mcpServers":{}}'))).toBe(true);
    expect(await bump(() => fs.rmSync(files[2]!))).toBe(true);
    await w.close();
    fs.rmSync(dir, { recursive: true });
  });
});
