/**
 * The `rune` CLI end to end: the built command (dist/cli/main.js) against a
 * real headless Neovim running Rune's MCP server, and the standalone commands
 * against wire-faithful local provider servers.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ROOT } from '../helpers/nvim.js';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { startMcpEnv, type McpEnv } from './mcp-helpers.js';
import { main } from '../../src/cli/main.js';
import { EXIT, EXIT_CODES } from '../../src/cli/output.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

let env: McpEnv;
let ollama: OllamaServer;
let configDir: string;

beforeAll(async () => {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  env = await startMcpEnv('{}', { 'notes.txt': 'alpha\nbeta\n' });
  ollama = await startOllamaServer();
  configDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-cli-cfg-'));
  fs.writeFileSync(
    path.join(configDir, 'config.json'),
    JSON.stringify({ providers: { ollama: { url: ollama.url, model: 'llama3.2' } } }),
  );
});

afterAll(async () => {
  await env?.t.close();
  await ollama?.close();
  fs.rmSync(configDir, { recursive: true, force: true });
});

function run(
  args: string[],
  opts: { cwd?: string; input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e: Record<string, string> = { ...(env.t.env as Record<string, string>) };
  delete e.NVIM;
  e.RUNE_CONFIG = path.join(configDir, 'config.json');
  const child = spawn(process.execPath, [CLI, ...args], {
    env: e,
    cwd: opts.cwd ?? env.ws,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

/** Runs the CLI in this process (for coverage), capturing stdout. */
async function runHere(
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout += chunk.toString();
    return true;
  });
  const vars = { RUNE_CONFIG: path.join(configDir, 'config.json'), ...extraEnv };
  const prev = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    const code = await main(['node', 'rune', ...args]);
    process.exitCode = undefined;
    return { code, stdout };
  } finally {
    spy.mockRestore();
    for (const [k, v] of Object.entries(prev)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('rune CLI', () => {
  it('has --help everywhere and exits 2 on bad usage', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['mcp', 'tool', 'models', 'chat', 'auth', 'doctor'])
      expect(help.stdout).toContain(c);
    const toolHelp = await run(['tool', 'call', '--help']);
    expect(toolHelp.code).toBe(0);
    expect(toolHelp.stdout).toContain('--standalone');
    const bad = await run(['frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown command 'frobnicate'");
  });

  it('lists and calls the running Neovim tools', async () => {
    const list = await run(['tool', 'list', '--json']);
    expect(list.code).toBe(0);
    const names = (JSON.parse(list.stdout) as { name: string }[]).map((t) => t.name);
    expect(names).toContain('read_file');
    expect(names).toContain('list_buffers');

    const call = await run(['tool', 'call', 'read_file', '{"path": "notes.txt"}']);
    expect(call.code).toBe(0);
    expect(call.stdout).toContain('alpha');

    const fromStdin = await run(['tool', 'call', 'read_file', '-', '--json'], {
      input: '{"path":"notes.txt"}',
    });
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout).content[0].text).toContain('beta');
  });

  it('fails clearly: bad JSON (2), a failing tool (1), no Neovim (3)', async () => {
    const badJson = await run(['tool', 'call', 'read_file', '{nope']);
    expect(badJson.code).toBe(2);
    expect(badJson.stderr).toContain('the arguments is not valid JSON');

    const failing = await run(['tool', 'call', 'read_file', '{"path": "../../etc/passwd"}']);
    expect(failing.code).toBe(1);

    const nowhere = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-nowhere-'));
    const e = { ...(env.t.env as Record<string, string>) };
    const child = spawn(process.execPath, [CLI, 'tool', 'list'], {
      // TMPDIR too: Neovim's default sockets of other tests live under $TMPDIR/nvim.$USER.
      env: { ...e, XDG_STATE_HOME: nowhere, XDG_RUNTIME_DIR: nowhere, TMPDIR: nowhere, NVIM: '' },
      cwd: nowhere,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((r) => child.once('exit', r));
    expect(code).toBe(3);
    expect(stderr).toMatch(/rune: .*(No running|no running|not find|Neovim)/);
    fs.rmSync(nowhere, { recursive: true, force: true });
  });

  it('lists models and streams a chat answer from the configured provider', async () => {
    ollama.enqueue('tags', { models: ['llama3.2', 'qwen2.5-coder:1.5b'] });
    const models = await runHere(['models', '--json']);
    expect(models.code).toBe(0);
    expect(JSON.parse(models.stdout)).toEqual([
      { provider: 'ollama', model: 'llama3.2' },
      { provider: 'ollama', model: 'qwen2.5-coder:1.5b' },
    ]);

    ollama.enqueue('chat', { text: ['Hel', 'lo ', 'wörld'] });
    const chat = await run(['chat', 'say', 'hello']);
    expect(chat.code).toBe(0);
    expect(chat.stdout).toBe('Hello wörld\n');
    const sent = ollama.requestsTo('chat').at(-1)!.body as { messages: { content: string }[] };
    expect(sent.messages.at(-1)!.content).toBe('say hello');

    ollama.enqueue('chat', { text: 'x' });
    const json = await runHere(['chat', 'hi', '--json']);
    const events = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(events.map((e) => e.type)).toEqual(['text', 'done']);
  });

  it('runs the AI tools standalone, without Neovim', async () => {
    const list = await runHere(['tool', 'list', '--standalone', '--json']);
    const names = (JSON.parse(list.stdout) as { name: string }[]).map((t) => t.name);
    expect(names).toContain('ai_ollama_generate');
    ollama.enqueue('chat', { text: 'standalone answer' });
    ollama.enqueue('generate', { text: 'standalone answer' });
    const call = await runHere([
      'tool',
      'call',
      'ai_ollama_generate',
      '{"prompt": "hi"}',
      '--standalone',
    ]);
    expect(call.code).toBe(0);
    expect(call.stdout).toContain('standalone answer');
  });

  it('doctor reports every section as JSON', async () => {
    const r = await runHere(['doctor', '--json'], { XDG_STATE_HOME: env.t.env.XDG_STATE_HOME! });
    const checks = JSON.parse(r.stdout) as { section: string; level: string; message: string }[];
    const sections = new Set(checks.map((c) => c.section));
    for (const s of ['node', 'build', 'mcp', 'secrets', 'providers', 'copilot', 'sandbox'])
      expect(sections).toContain(s);
    expect(checks.find((c) => c.section === 'build')!.level).toBe('ok');
    expect(checks.find((c) => c.section === 'mcp' && c.level === 'ok')?.message).toContain(env.url);
    expect(
      checks.some(
        (c) => c.section === 'providers' && c.level === 'ok' && c.message.includes(ollama.url),
      ),
    ).toBe(true);
    // A working install has no error line, and then exits 0.
    expect(checks.filter((c) => c.level === 'error')).toEqual([]);
    expect(r.code).toBe(0);
  });

  it('doctor exits 1 when a check fails, naming it', async () => {
    const bad = path.join(configDir, 'broken.json');
    fs.writeFileSync(bad, '{nope');
    const r = await runHere(['doctor', '--json'], { RUNE_CONFIG: bad });
    const checks = JSON.parse(r.stdout) as { section: string; level: string; message: string }[];
    expect(checks.find((c) => c.level === 'error')?.message).toContain(bad);
    expect(r.code).toBe(1);
  });

  it('lists its exit codes in --help, as :help rune-cli-exit-codes does', async () => {
    const help = await run(['--help']);
    const doc = fs.readFileSync(path.join(ROOT, 'doc', 'rune.txt'), 'utf8');
    for (const e of EXIT_CODES) {
      expect(help.stdout).toContain(`${String(e.code).padEnd(4)}${e.meaning}`);
      expect(doc).toContain(`    ${String(e.code).padEnd(4)}${e.meaning}`);
    }
  });

  it('every command exits with the code of the table', async () => {
    const unreachable = path.join(configDir, 'unreachable.json');
    fs.writeFileSync(
      unreachable,
      JSON.stringify({
        providers: { gone: { kind: 'ollama', url: 'http://127.0.0.1:9' } },
        default_provider: 'gone',
      }),
    );
    const codes = {
      mcpPrint: (await run(['mcp', '--print'])).code,
      mcpBadTimeout: (await run(['mcp', '--timeout', 'soon'])).code,
      modelsUnreachable: (await run(['models', '--config', unreachable])).code,
      chatUnreachable: (await run(['chat', '--config', unreachable, 'hi'])).code,
      chatNoPrompt: (await run(['chat'])).code,
      authNoProvider: (await run(['auth', 'login'])).code,
      authUnknownOption: (await run(['auth', 'status', 'openai', '--frobnicate'])).code,
      doctorBadOption: (await run(['doctor', '--frobnicate'])).code,
    };
    expect(codes).toEqual({
      mcpPrint: EXIT.ok,
      mcpBadTimeout: EXIT.usage,
      modelsUnreachable: EXIT.unavailable,
      chatUnreachable: EXIT.unavailable,
      chatNoPrompt: EXIT.usage,
      authNoProvider: EXIT.usage,
      authUnknownOption: EXIT.usage,
      doctorBadOption: EXIT.usage,
    });
  });
});
