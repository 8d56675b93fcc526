/**
 * Inline completion as a user meets it: keys typed in Insert mode in a real
 * headless Neovim, the host spawned by the Lua layer from dist/, a
 * wire-faithful Ollama server answering fill-in-the-middle requests. The ghost
 * text is read back from the buffer's extmarks and accepted with <Tab>.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../helpers/servers/index.js';
import { waitFor, type TestNvim } from '../helpers/nvim.js';
import { explained, startRune } from '../helpers/e2e.js';

const servers: OllamaServer[] = [];
const folders: string[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  for (const d of folders) fs.rmSync(d, { recursive: true, force: true });
});

const WANTED = 'printf("hi");';

interface Ghost {
  row: number;
  col: number;
  text: string;
}

/** The ghost text drawn in the current buffer: Rune's extmarks with inline virtual text. */
async function ghost(t: TestNvim): Promise<Ghost | undefined> {
  const marks = await t.lua<[number, number, number, { virt_text?: [string, string][] }][]>(
    `local ns = vim.api.nvim_get_namespaces()['rune.ghost']
     if not ns then return {} end
     return vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })`,
  );
  const m = marks.find((x) => x[3].virt_text?.length);
  return m && { row: m[1], col: m[2], text: m[3].virt_text!.map((c) => c[0]).join('') };
}

describe('inline completion (built host, typed keys)', () => {
  it('draws the answer as ghost text at the cursor in Insert mode and <Tab> accepts it', async () => {
    const server = await startOllamaServer();
    servers.push(server);
    // Like a model: completes the part of WANTED the prefix does not end with yet.
    server.script('generate', (req) => {
      const prompt = (req.body as { prompt: string }).prompt;
      let k = WANTED.length;
      while (k > 0 && !prompt.endsWith(WANTED.slice(0, k))) k--;
      return { text: WANTED.slice(k) };
    });
    const ws = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-e2e-ghost-')));
    folders.push(ws);
    fs.writeFileSync(path.join(ws, 'main.c'), 'int main(void) {\n  \n  return 0;\n}\n');
    const t = await startRune({
      cwd: ws,
      config: { providers: { ollama: { url: server.url, retry: { max_attempts: 1 } } } },
    });
    await explained(t, async () => {
      await t.nvim.input(':edit main.c<CR>2GApr');
      const shown = await waitFor(
        async () => {
          const g = await ghost(t);
          return g?.text === 'intf("hi");' ? g : undefined;
        },
        20000,
        'the ghost text',
      );
      // Drawn where the cursor is, while the user is still typing in Insert mode.
      expect(shown).toMatchObject({ row: 1, col: 4 });
      expect((await t.nvim.mode).mode).toBe('i');
      expect(await t.lua('return vim.api.nvim_get_current_line()')).toBe('  pr');
      // The model saw the code before and after the cursor.
      const body = server.requestsTo('generate').at(-1)!.body as Record<string, string>;
      expect(body.prompt).toBe('int main(void) {\n  pr');
      expect(body.suffix).toContain('\n  return 0;\n}');

      await t.nvim.input('<Tab>');
      await waitFor(
        async () => (await t.lua('return vim.api.nvim_get_current_line()')) === `  ${WANTED}`,
        10000,
        'the accepted text',
      );
      expect(await ghost(t)).toBeUndefined();
      expect((await t.nvim.mode).mode).toBe('i');
      await t.nvim.input('<Esc>');
      expect(await t.lua('return vim.api.nvim_buf_get_lines(0, 0, -1, false)')).toEqual([
        'int main(void) {',
        `  ${WANTED}`,
        '  return 0;',
        '}',
      ]);
    });
  });
});
