/**
 * Project instructions (AGENTS.md, CLAUDE.md, .rune/instructions.md) join the
 * system prompt of the chat and :RuneEdit only once the user trusted the file
 * (Neovim's vim.secure trust list), named in the answer's header, within a budget.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor } from '../helpers/nvim.js';
import { ollamaAt, startChat, type ChatHarness } from './chat-helpers.js';
import { editModule } from '../../src/nvim/edit/index.js';

type Body = { messages: { role: string; content: string }[] };
const systemOf = (server: OllamaServer, n = -1) =>
  (server.requestsTo('chat').at(n)!.body as Body).messages.find((m) => m.role === 'system')
    ?.content ?? '';

/** Marks `file` trusted or denied, as :trust does (Neovim 0.10 takes a buffer to allow). */
async function trustFile(c: ChatHarness, action: 'allow' | 'deny', file: string): Promise<void> {
  await c.t.lua(
    `local action, path = ...
     if action == 'allow' then
       local b = vim.fn.bufadd(path)
       vim.fn.bufload(b)
       vim.secure.trust({ action = 'allow', bufnr = b })
       vim.api.nvim_buf_delete(b, { force = true })
     else
       vim.secure.trust({ action = action, path = path })
     end`,
    [action, file],
  );
}

async function projectWith(
  files: Record<string, string>,
  trust: 'allow' | 'deny' | 'none',
): Promise<{ c: ChatHarness; server: OllamaServer; dir: string }> {
  const server = await startOllamaServer();
  const c = await startChat({
    providers: { local: ollamaAt(server.url) },
    modules: [editModule()],
  });
  const dir = fs.mkdtempSync(path.join(c.t.home, 'proj-'));
  fs.mkdirSync(path.join(dir, '.git'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
    if (trust !== 'none') {
      await trustFile(c, trust, path.join(dir, name));
    }
  }
  fs.writeFileSync(path.join(dir, 'main.lua'), 'print(1)\n');
  await c.t.nvim.command(`edit ${path.join(dir, 'main.lua')}`);
  return { c, server, dir };
}

async function ask(c: ChatHarness, question: string): Promise<number> {
  await c.t.nvim.command('RuneChat');
  const buf = await c.chatBuf();
  await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [
    buf,
    question,
  ]);
  await c.t.lua('require("rune.chat").submit(...)', [buf]);
  await c.idle(buf);
  return buf;
}

describe('project instructions', () => {
  it('a trusted AGENTS.md joins the system prompt of the chat and :RuneEdit, named in the header', async () => {
    const { c, server } = await projectWith({ 'AGENTS.md': 'Indent with tabs.\n' }, 'allow');
    server.enqueue('chat', { text: 'ok' }, { text: 'print(2)' });
    const buf = await ask(c, 'hi');
    expect(systemOf(server)).toContain(
      "The project's instructions (AGENTS.md), from its maintainers; follow them:\n<instructions>\nIndent with tabs.\n</instructions>",
    );
    expect(await c.lines(buf)).toContain('## Rune (local/llama3.2) · AGENTS.md');

    await c.t.nvim.command('wincmd p');
    await c.t.nvim.command('1RuneEdit print two');
    await waitFor(
      async () =>
        (await c.t.lua<{ state: string } | null>('return require("rune.edit").status()'))?.state ===
        'review',
      5000,
      'the review',
    );
    expect(systemOf(server)).toContain('Reply with the code only');
    expect(systemOf(server)).toContain('<instructions>\nIndent with tabs.\n</instructions>');
    await server.close();
  });

  it('an untrusted file is not sent; the next trusted one (.rune/instructions.md) is', async () => {
    const { c, server, dir } = await projectWith({ 'CLAUDE.md': 'secret plan\n' }, 'deny');
    server.enqueue('chat', { text: 'ok' }, { text: 'ok' });
    const buf = await ask(c, 'hi');
    expect(systemOf(server)).not.toContain('secret plan');
    expect(systemOf(server)).not.toContain('<instructions>');
    expect(await c.lines(buf)).toContain('## Rune (local/llama3.2)');

    const file = path.join(dir, '.rune', 'instructions.md');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, 'x'.repeat(20_000));
    await trustFile(c, 'allow', file);
    await c.t.lua('vim.api.nvim_buf_set_lines(..., -1, -1, false, { "again" })', [buf]);
    await c.t.lua('require("rune.chat").submit(...)', [buf]);
    await c.idle(buf);
    const system = systemOf(server);
    expect(system).not.toContain('secret plan');
    // Cut to the budget, saying so.
    expect(system).toContain(`${'x'.repeat(16_000)}\n… (cut: 4000 more characters not sent)`);
    expect(system).not.toContain('x'.repeat(16_001));
    expect(await c.lines(buf)).toContain('## Rune (local/llama3.2) · .rune/instructions.md');
    await server.close();
  });

  it('an untrusted file is skipped with one notice per session; after :trust it is used', async () => {
    const { c, server, dir } = await projectWith({ 'AGENTS.md': 'Be brief.\n' }, 'none');
    server.enqueue('chat', { text: 'ok' }, { text: 'ok' }, { text: 'ok' });
    await c.t.nvim.command('RuneChat');
    const buf = await c.chatBuf();
    const submit = async (q: string) => {
      await c.t.lua('vim.api.nvim_buf_set_lines(..., -2, -1, false, { select(2, ...) })', [buf, q]);
      await c.t.lua('require("rune.chat").submit(...)', [buf]);
    };
    await c.t.lua('_G.notes = {} vim.notify = function(msg) table.insert(_G.notes, msg) end');
    const notices = async () =>
      (await c.t.lua<string[]>('return _G.notes')).filter((n) => n.includes('AGENTS.md'));
    // Not trusted: not sent, and the user is told how to trust it (never a prompt).
    await submit('one');
    await c.idle(buf);
    expect(systemOf(server)).not.toContain('Be brief.');
    await waitFor(async () => (await notices()).length === 1, 5000, 'the notice');
    expect((await notices())[0]).toContain(':trust');
    // Told once: the next question goes out without the file and without a second notice.
    await submit('two');
    await c.idle(buf);
    expect(server.requestsTo('chat')).toHaveLength(2);
    expect(systemOf(server)).not.toContain('Be brief.');
    expect(await notices()).toHaveLength(1);
    // Trusted (as :trust does): used from the next question on, without asking.
    await trustFile(c, 'allow', path.join(dir, 'AGENTS.md'));
    await submit('three');
    await c.idle(buf);
    expect(systemOf(server)).toContain('<instructions>\nBe brief.\n</instructions>');
    await server.close();
  });
});
