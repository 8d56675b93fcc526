/** The zeke provider against a `zeke serve` double as strict as the real one. */
import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError, BadRequestError } from '../../../src/core/errors.js';
import { ZEKE_PROMPT_CHARS } from '../../../src/providers/zeke-prompt.js';
import type { ChatMessage } from '../../../src/providers/types.js';
import { startZekeServer, type ZekeServer } from '../../helpers/servers/index.js';
import { FAST, collect, registryFor, rejection, textOf } from './helpers.js';

let s: ZekeServer;
let reg: ReturnType<typeof registryFor>['registry'];

beforeEach(async () => {
  s = await startZekeServer();
  reg = registryFor({ zeke: { url: s.url, ...FAST } }).registry;
});
afterEach(async () => {
  reg.dispose();
  await s.close();
});

/** A conversation of `turns` questions and answers, each `size` characters long. */
function conversation(turns: number, size: number): ChatMessage[] {
  const out: ChatMessage[] = [];
  for (let i = 1; i <= turns; i++) {
    out.push({ role: 'user', content: `question ${i} ${'q'.repeat(size)}` });
    if (i < turns) out.push({ role: 'assistant', content: `answer ${i} ${'a'.repeat(size)}` });
  }
  return out;
}

/** One raw HTTP/1.1 exchange on a fresh socket (the way any other zeke client would ask). */
function rawGet(url: string, path: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(u.port), u.hostname, () =>
      sock.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString()));
    sock.on('end', () => resolve(got));
    sock.on('error', reject);
  });
}

describe('zeke provider (zeke serve)', () => {
  it('sends only the fields zeke knows, a complexity hint and the model, and yields the answer', async () => {
    s.enqueue('chat', { text: 'Hi there', usage: { input: 8, output: 2 } });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hello' }], maxTokens: 50 }),
    );
    expect(events).toEqual([
      { type: 'text', delta: 'Hi there' },
      expect.objectContaining({
        type: 'done',
        usage: { inputTokens: 8, outputTokens: 2 },
        model: 'qwen2.5-coder:7b',
        stopReason: 'end',
      }),
    ]);
    const rec = s.requestsTo('chat')[0]!;
    expect(rec.status).toBe(200);
    // No max_tokens: zeke never passes it on, and over 2048 it would route to the cloud.
    expect(rec.body).toEqual({ message: 'hello', model: 'qwen2.5-coder:7b', complexity: 'medium' });
    expect(reg.usage()[0]).toMatchObject({ provider: 'zeke', inputTokens: 8, outputTokens: 2 });
  });

  it('keeps a 10-turn chat whose history passes 2000 characters working', async () => {
    const messages = conversation(10, 150);
    const events = await collect(reg.get('chat').chat({ system: 'be terse', messages }));
    expect(textOf(events)).toBe('Hello from Zeke');
    const body = s.requestsTo('chat')[0]!.body as { message: string };
    expect(body.message.length).toBeGreaterThan(2000);
    expect(body.message.startsWith('System: be terse\n\nUser: question 1 ')).toBe(true);
    expect(body.message.endsWith('Assistant:')).toBe(true);
  });

  it('leaves the oldest turns out of a prompt over its budget, says so, and never resends the notice', async () => {
    const messages = conversation(12, 900);
    const events = await collect(reg.get('chat').chat({ system: 'be terse', messages }));
    const text = textOf(events);
    expect(text).toMatch(
      /^_\(Rune: zeke takes the conversation as one prompt of at most 6000 characters; \d+ older messages were left out\.\)_\n\nHello from Zeke$/,
    );
    const first = (s.requestsTo('chat')[0]!.body as { message: string }).message;
    expect(first.length).toBeLessThanOrEqual(ZEKE_PROMPT_CHARS);
    expect(first).toContain('System: be terse');
    expect(first).toContain('question 12');
    expect(first).not.toContain('question 1 ');
    // The next turn carries the answer without Rune's notice.
    await collect(
      reg.get('chat').chat({
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: text },
          { role: 'user', content: 'b' },
        ],
      }),
    );
    const second = (s.requestsTo('chat')[1]!.body as { message: string }).message;
    expect(second).toBe('User: a\n\nAssistant: Hello from Zeke\n\nUser: b\n\nAssistant:');
  });

  it('does not retry NoCloudProvider and shows its code', async () => {
    s.enqueue('chat', { status: 500, code: 'NoCloudProvider' });
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] })),
    );
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err.message).toContain('HTTP 500 NoCloudProvider');
    expect(err.message).toContain('Not retried');
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it("says which model to pull when zeke's Ollama lacks it", async () => {
    s.pulled.clear();
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] })),
    );
    expect(err.message).toContain('OllamaGenerateError');
    expect(err.message).toContain('ollama pull qwen2.5-coder:7b');
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it('shows any other zeke code once, with what to check', async () => {
    s.enqueue('chat', { status: 500, code: 'ConnectionRefused' });
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] })),
    );
    expect(err.message).toContain('HTTP 500 ConnectionRefused');
    expect(err.message).toContain('ollama serve');
    expect(s.requestsTo('chat')).toHaveLength(1);
  });

  it('retries a server error that carries no code', async () => {
    s.enqueue('chat', { status: 500 }, { status: 500 });
    const out = await collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] }));
    expect(textOf(out)).toBe('Hello from Zeke');
    expect(s.requestsTo('chat').map((r) => r.status)).toEqual([500, 500, 200]);
  });

  it('closes each connection after the answer, so other zeke clients are served', async () => {
    await collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'a' }] }));
    await reg.get('completion').complete({ prefix: 'a', suffix: 'b' });
    const [one, two] = s.requests;
    expect(one!.headers.connection).toBe('close');
    expect(two!.connection).not.toBe(one!.connection);
    expect(await rawGet(s.url, '/health')).toContain('"server":"zeke-rpc"');
  });

  it('waits for a slow answer as for a first token, not as for a connection', async () => {
    // zeke serve sends nothing until the whole answer is ready.
    const slow = registryFor({
      zeke: { url: s.url, retry: { max_attempts: 1 }, timeouts: { connect_ms: 30 } },
    }).registry;
    try {
      s.enqueue('chat', { text: 'took a while', delayMs: 300 });
      const out = await collect(
        slow.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] }),
      );
      expect(textOf(out)).toBe('took a while');
      expect(s.requestsTo('chat')).toHaveLength(1);
    } finally {
      slow.dispose();
    }
  });

  it('completes through /api/complete with known fields only', async () => {
    s.enqueue('complete', { text: 'n + 1' });
    const out = await reg.get('completion').complete({
      prefix: 'return ',
      suffix: ';',
      language: 'lua',
      maxTokens: 16,
    });
    expect(out).toEqual([{ text: 'n + 1' }]);
    const rec = s.requestsTo('complete')[0]!;
    expect(rec.status).toBe(200);
    expect(Object.keys(rec.body as object).sort()).toEqual(['language', 'model', 'prompt']);
    expect((rec.body as { prompt: string }).prompt).toContain('return <CURSOR>;');
  });

  it('cancels a call that hangs and frees zeke for the next one', async () => {
    s.enqueue('complete', { hang: true });
    const ac = new AbortController();
    const p = reg.get('completion').complete({ prefix: 'a', suffix: 'b' }, { signal: ac.signal });
    await s.waitForRequests(1);
    ac.abort();
    expect(await rejection(p)).toBeInstanceOf(AbortError);
    // zeke serves one connection at a time: this answer needs the hung one closed.
    expect(await reg.get('completion').complete({ prefix: 'a', suffix: 'b' })).toEqual([
      { text: 'x + 1' },
    ]);
  });

  it('lists the configured model and probes /health, naming the model in the report', async () => {
    expect(await reg.get('chat').models()).toEqual([{ id: 'qwen2.5-coder:7b', provider: 'zeke' }]);
    const probe = await reg.managed('zeke').probe();
    expect(probe).toMatch(/zeke serve reachable at .*status ok, version 0\.2\.8/);
    expect(probe).toContain('ollama pull qwen2.5-coder:7b');
  });

  it('reports a missing zeke clearly when zeke serve does not answer', async () => {
    await s.close();
    const off = registryFor({ zeke: { url: s.url, retry: { max_attempts: 1 } } }, {}, { PATH: '' });
    try {
      const err = await rejection(
        collect(off.registry.get('chat').chat({ messages: [{ role: 'user', content: 'x' }] })),
      );
      expect(err.message).toMatch(/does not answer at .* and no `zeke` program is on PATH/);
    } finally {
      off.registry.dispose();
    }
    s = await startZekeServer();
  });
});
