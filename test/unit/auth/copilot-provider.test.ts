import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedFileStore } from '../../../src/auth/file-store.js';
import { CopilotServerHandle } from '../../../src/auth/copilot-service.js';
import { COPILOT_GITHUB_ACCOUNT } from '../../../src/auth/secret-store.js';
import { AuthError } from '../../../src/core/errors.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import { CopilotAdapter, fimToDocument, itemToInsertion } from '../../../src/providers/copilot.js';
import type { ChatEvent } from '../../../src/providers/types.js';
import { startOpenAIServer, type OpenAIServer } from '../../helpers/servers/index.js';
import { COPILOT_LS, startBlackhole, type Blackhole } from './copilot-env.js';
import { startGitHubServer, type GitHubServer } from './github-server.js';

const hooks = { headers() {} };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-copilot-'));
let gh: GitHubServer;
let api: OpenAIServer;
beforeAll(async () => {
  gh = await startGitHubServer();
  api = await startOpenAIServer();
  gh.copilotApi = `${api.url}/v1`;
});
afterAll(async () => {
  await gh.close();
  await api.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('FIM request as a language-server document', () => {
  it('puts the cursor at the end of the prefix, in UTF-16 units', () => {
    const doc = fimToDocument({
      prefix: 'def f():\n    s = "é😀',
      suffix: '"\nprint(f())\n',
      language: 'python',
      filename: '/work/a.py',
    });
    expect(doc).toEqual({
      uri: 'file:///work/a.py',
      languageId: 'python',
      text: 'def f():\n    s = "é😀"\nprint(f())\n',
      line: 1,
      character: 12,
    });
    expect(fimToDocument({ prefix: '', suffix: '' })).toMatchObject({
      uri: 'untitled:rune-buffer',
      languageId: 'plaintext',
      line: 0,
      character: 0,
    });
  });

  it('inserts only what is new when the item repeats the typed line start or the line end', () => {
    const doc = fimToDocument({ prefix: 'def add(a, b):\n    ret', suffix: ')\n' });
    const item = {
      insertText: '    return (a + b)',
      range: { start: { line: 1, character: 0 }, end: { line: 1, character: 8 } },
    };
    expect(itemToInsertion(item, doc)).toEqual({ text: 'urn (a + b', typed: 7 });
    const plain = {
      insertText: 'urn a + b',
      range: { start: { line: 1, character: 7 }, end: { line: 1, character: 7 } },
    };
    expect(itemToInsertion(plain, doc)).toEqual({ text: 'urn a + b', typed: 0 });
  });
});

describe('Copilot chat through the token exchange (unofficial endpoint)', () => {
  it('exchanges the stored GitHub token and streams an OpenAI-style chat from the named endpoint', async () => {
    const store = new EncryptedFileStore({ file: path.join(tmp, 'a.enc') });
    await store.set(COPILOT_GITHUB_ACCOUNT, gh.githubToken);
    const logger = createMemoryLogger();
    const adapter = new CopilotAdapter({
      id: 'copilot',
      url: gh.url,
      secrets: store,
      env: {},
      logger,
      editorInfo: { name: 'Neovim', version: '0.10.4' },
    });
    api.enqueue('chat', { text: ['Hi', ' there'], usage: { input: 5, output: 2 } });
    const events: ChatEvent[] = [];
    const ac = new AbortController();
    for await (const ev of adapter.chat(
      { messages: [{ role: 'user', content: 'hello' }] },
      'gpt-4.1',
      ac.signal,
      hooks,
    )) {
      events.push(ev);
    }
    expect(
      events.filter((e) => e.type === 'text').map((e) => (e as { delta: string }).delta),
    ).toEqual(['Hi', ' there']);
    expect(events.at(-1)).toMatchObject({
      type: 'done',
      usage: { inputTokens: 5, outputTokens: 2 },
    });
    const req = api.requestsTo('chat')[0]!;
    expect(req.headers.authorization).toMatch(/^Bearer tid=copilot-\d+;exp=\d+$/);
    expect(req.headers['copilot-integration-id']).toBe('vscode-chat');
    expect(req.headers['editor-version']).toBe('Neovim/0.10.4');
    expect((req.body as { model: string }).model).toBe('gpt-4.1');

    // A second chat reuses the Copilot token; neither token reaches the log.
    const before = gh.exchanges;
    for await (const _ of adapter.chat(
      { messages: [{ role: 'user', content: 'x' }] },
      'gpt-4.1',
      ac.signal,
      hooks,
    )) {
      // drain
    }
    expect(gh.exchanges).toBe(before);
    logger.info('tokens', { text: `${gh.githubToken} ${String(req.headers.authorization)}` });
    expect(logger.lines.at(-1)).not.toContain(gh.githubToken);
    expect(logger.lines.at(-1)).not.toContain('tid=copilot');

    expect((await adapter.models(ac.signal)).map((m) => m.id)).toEqual([
      'gpt-4o-mini',
      'gpt-3.5-turbo-instruct',
    ]);
    expect(await adapter.probe(ac.signal)).toBe(`signed in; Copilot API at ${api.url}/v1`);
  });

  it('maps a refused Copilot token to a sign-in hint and exchanges a new one next time', async () => {
    const adapter = new CopilotAdapter({
      id: 'copilot',
      url: gh.url,
      env: { GH_COPILOT_TOKEN: gh.githubToken },
    });
    api.enqueue('chat', { status: 401 });
    const ac = new AbortController();
    const err = await (async () => {
      for await (const _ of adapter.chat(
        { messages: [{ role: 'user', content: 'x' }] },
        'm',
        ac.signal,
        hooks,
      )) {
        // drain
      }
    })().catch((e: unknown) => adapter.mapError(e));
    expect(err).toBeInstanceOf(AuthError);
    expect((err as Error).message).toMatch(
      /^Copilot refused the request: .*:RuneAuth copilot login/,
    );
    const before = gh.exchanges;
    await adapter.probe(ac.signal);
    expect(gh.exchanges).toBe(before + 1);
  });

  it('asks to sign in when no GitHub token exists', async () => {
    const adapter = new CopilotAdapter({
      id: 'copilot',
      url: gh.url,
      env: { XDG_CONFIG_HOME: path.join(tmp, 'empty') },
    });
    await expect(adapter.probe(new AbortController().signal)).rejects.toThrow(
      /not signed in: no GitHub token was found. Run :RuneAuth copilot login/,
    );
  });
});

describe('Copilot completions through the real language server', () => {
  let hole: Blackhole;
  let handle: CopilotServerHandle;
  beforeAll(async () => {
    hole = await startBlackhole();
    handle = new CopilotServerHandle({
      server: COPILOT_LS,
      env: hole.env,
      settings: hole.settings,
      minIntervalMs: 0,
    });
  });
  afterAll(async () => {
    await handle.dispose();
    await hole.close();
  });

  it('sends the synthesized document and reports that Copilot is not signed in', async () => {
    const adapter = new CopilotAdapter({ id: 'copilot', languageServer: () => handle.get() });
    const ac = new AbortController();
    const err = await adapter
      .complete(
        { prefix: 'def add(a, b):\n    ', suffix: '\n', language: 'python', filename: '/tmp/x.py' },
        'copilot',
        ac.signal,
        hooks,
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).provider).toBe('copilot');
    expect(adapter.mapError(err)).toBe(err);
    // The server stays up and is shared: the same process answers the next call.
    const ls = handle.peek()!;
    expect(ls.alive).toBe(true);
    expect(await handle.get()).toBe(ls);
    // Unknown completions (e.g. from a cache of another provider) are ignored quietly.
    adapter.didShow({ text: 'x', id: 'unknown' });
    adapter.didAccept({ text: 'x', id: 'unknown' }, 1);
  });
});
