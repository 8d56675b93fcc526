/**
 * The standalone `rune` command (node dist/cli/main.js) with no provider configured: it
 * looks at what the machine offers, as the host does (src/providers/detect.ts), uses it,
 * and says which and why (`rune chat` on stderr, `rune doctor`). Peers are local: a
 * wire-faithful Ollama found through OLLAMA_HOST, an Anthropic key in the environment
 * with the SDK's own ANTHROPIC_BASE_URL pointing at a wire-faithful Anthropic server;
 * with nothing found, guidance and exit code 3 (nothing to talk to).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startAnthropicServer, startOllamaServer } from '../helpers/servers/index.js';
import { runCli } from '../helpers/e2e.js';
import { freePort as closedPort } from '../helpers/ports.js';

const servers: { close(): Promise<void> }[] = [];
const homes: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const h of homes) fs.rmSync(h, { recursive: true, force: true });
});

/** A fresh home with no config file, no keys, no sign-in, the local peers' ports closed. */
async function bareEnv(
  extra: Record<string, string> = {},
): Promise<{ env: Record<string, string>; file: string }> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-cli-detect-'));
  homes.push(home);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_STATE_HOME: path.join(home, 'state'),
    XDG_DATA_HOME: path.join(home, 'data'),
    OLLAMA_HOST: `127.0.0.1:${await closedPort()}`,
    LLAMA_ARG_PORT: String(await closedPort()),
    ...extra,
  };
  return { env, file: path.join(home, 'config', 'rune', 'config.json') };
}

describe('rune without a configured provider (built CLI)', () => {
  it('rune chat uses a running Ollama and says which and why', async () => {
    const ollama = await startOllamaServer();
    servers.push(ollama);
    ollama.script('chat', () => ({ text: 'From Ollama' }));
    const { env, file } = await bareEnv({ OLLAMA_HOST: ollama.url });
    const r = await runCli(['chat', 'hi'], { env });
    expect(r.stderr).toContain(
      `rune: no provider configured in ${file}; using ollama for chat (detected: Ollama at ${ollama.url} with 2 model(s))`,
    );
    expect(r.stdout).toBe('From Ollama\n');
    expect(r.code).toBe(0);
    expect(ollama.requestsTo('chat')[0]!.body).toMatchObject({ model: 'llama3.2:latest' });
  });

  it('a key in the environment: rune chat and rune doctor pick Anthropic and say why', async () => {
    const claude = await startAnthropicServer();
    servers.push(claude);
    claude.script('messages', () => ({ text: 'From Claude' }));
    const { env, file } = await bareEnv({
      ANTHROPIC_API_KEY: 'sk-ant-cli',
      ANTHROPIC_BASE_URL: claude.url,
    });
    const r = await runCli(['chat', 'hi'], { env });
    expect(r.stderr).toContain(
      `rune: no provider configured in ${file}; using anthropic for chat (detected: ANTHROPIC_API_KEY is set)`,
    );
    expect(r.stdout).toBe('From Claude\n');
    expect(r.code).toBe(0);
    const h = claude.requestsTo('messages')[0]!.headers;
    expect(h.authorization ?? h['x-api-key']).toMatch(/sk-ant-cli/);

    const d = await runCli(['doctor', '--json'], { env });
    const checks = (JSON.parse(d.stdout) as { section: string; level: string; message: string }[])
      .filter((c) => c.section === 'providers')
      .map((c) => `${c.level} ${c.message}`);
    expect(checks).toContain(`info no ${file}; using what this machine offers`);
    expect(checks).toContain('ok chat: anthropic (detected: ANTHROPIC_API_KEY is set)');
    expect(checks).toContain(`ok anthropic (anthropic) answers at ${claude.url}`);
  });

  it('nothing found: guidance on what to install or set, and exit code 3', async () => {
    const { env, file } = await bareEnv({ PATH: path.dirname(process.execPath) });
    const r = await runCli(['chat', 'hi'], { env });
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`No model found on this machine: configure providers in ${file}`);
    expect(r.stderr).toContain(
      '- anthropic: set ANTHROPIC_API_KEY, or store a key with rune auth login anthropic',
    );
    expect(r.stderr).toContain('- copilot: sign in with rune auth login copilot');
    expect(r.stderr).not.toContain(':RuneAuth');
    expect(r.stderr).toContain('- ollama:');

    const d = await runCli(['doctor', '--json'], { env });
    const bad = (
      JSON.parse(d.stdout) as { section: string; level: string; message: string; advice?: string }[]
    ).find((c) => c.section === 'providers');
    expect(bad).toMatchObject({ level: 'error' });
    expect(bad!.message).toContain('No model found on this machine');
    expect(bad!.advice).toContain('anthropic: set ANTHROPIC_API_KEY');
    expect(d.code).toBe(1);
  });
});
