/**
 * The chat tool loop on its own: a scripted provider (each request answers with the next
 * script, and records what it was sent) and scripted tools, in one process.
 */
import { describe, expect, it } from 'vitest';
import { ChatRunner, type RunEvent } from '../../../src/chat/runner.js';
import type { ChatTools, ToolRun } from '../../../src/chat/tools.js';
import { AbortError } from '../../../src/core/errors.js';
import type { ChatEvent, ChatRequest, Provider } from '../../../src/providers/types.js';

const done = (input: number, output: number, ttftMs?: number): ChatEvent => ({
  type: 'done',
  usage: { inputTokens: input, outputTokens: output },
  stopReason: 'end',
  model: 'm1',
  ...(ttftMs !== undefined ? { ttftMs } : {}),
});

/** A provider that answers request n with script n; it records each request and whether its stream was closed. */
function scripted(scripts: ChatEvent[][]) {
  const requests: ChatRequest[] = [];
  const closed: boolean[] = [];
  const provider: Provider = {
    id: 'fake',
    kind: 'fake',
    async *chat(req, opts) {
      const n = requests.length;
      requests.push(structuredClone(req));
      closed[n] = false;
      try {
        for (const ev of scripts[n] ?? [done(0, 0)]) {
          if (opts?.signal?.aborted) throw new AbortError();
          yield ev;
        }
      } finally {
        closed[n] = true;
      }
    },
    complete: () => Promise.resolve([]),
    models: () => Promise.resolve([]),
  };
  return { provider, requests, closed };
}

function tools(answer: (name: string, input: unknown) => ToolRun | Promise<ToolRun>) {
  const calls: { name: string; input: unknown }[] = [];
  const t: ChatTools = {
    specs: () => [{ name: 'read', description: 'reads', inputSchema: { type: 'object' } }],
    call: async (name, input, signal) => {
      calls.push({ name, input });
      const run = await answer(name, input);
      if (signal.aborted) throw new AbortError();
      return run;
    },
  };
  return { tools: t, calls };
}

async function collect(runner: ChatRunner): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const ev of runner) out.push(ev);
  return out;
}

const question = [{ role: 'user' as const, content: 'what is in a.txt?' }];

describe('ChatRunner', () => {
  it('passes a plain answer through and ends with its usage', async () => {
    const p = scripted([
      [{ type: 'text', delta: 'Hel' }, { type: 'text', delta: 'lo' }, done(5, 2, 12)],
    ]);
    const events = await collect(
      new ChatRunner({
        provider: p.provider,
        model: 'm1',
        system: 'sys',
        messages: question,
        signal: new AbortController().signal,
      }),
    );
    expect(events.map((e) => e.type)).toEqual(['text', 'text', 'done', 'end']);
    expect(events.at(-1)).toEqual({
      type: 'end',
      usage: { inputTokens: 5, outputTokens: 2 },
      ttftMs: 12,
      model: 'm1',
      thinkingChars: 0,
    });
    expect(p.requests).toEqual([{ messages: question, system: 'sys', model: 'm1' }]);
  });

  it('runs the tools the model calls, sends the results back, and asks again', async () => {
    const p = scripted([
      [
        { type: 'text', delta: 'Let me look.' },
        { type: 'tool_call', id: 't1', name: 'read', input: { path: 'a.txt' } },
        done(10, 3),
      ],
      [{ type: 'text', delta: 'It says hi.' }, done(20, 4)],
    ]);
    const t = tools(() => ({ text: 'hi', isError: false, denied: false }));
    const events = await collect(
      new ChatRunner({
        provider: p.provider,
        system: 'sys',
        messages: question,
        tools: t.tools,
        signal: new AbortController().signal,
      }),
    );
    expect(events.map((e) => e.type)).toEqual([
      'text',
      'tool_call',
      'done',
      'tool_run',
      'tool_result',
      'step',
      'text',
      'done',
      'end',
    ]);
    expect(t.calls).toEqual([{ name: 'read', input: { path: 'a.txt' } }]);
    const asked = [
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me look.' },
          { type: 'tool_call', id: 't1', name: 'read', input: { path: 'a.txt' } },
        ],
      },
      { role: 'tool', content: [{ type: 'tool_result', id: 't1', content: 'hi' }] },
    ];
    expect(p.requests[1]!.messages).toEqual([...question, ...asked]);
    expect(p.requests[0]!.tools?.map((x) => x.name)).toEqual(['read']);
    const end = events.at(-1) as Extract<RunEvent, { type: 'end' }>;
    expect(end.usage).toEqual({ inputTokens: 30, outputTokens: 7 });
    expect(end.turns).toEqual([...asked, { role: 'assistant', content: 'It says hi.' }]);
  });

  it('tells the model a denied call did not run, and marks failed calls as errors', async () => {
    const p = scripted([
      [
        { type: 'tool_call', id: 'a', name: 'read', input: {} },
        { type: 'tool_call', id: 'b', name: 'write', input: {} },
        done(1, 1),
      ],
      [{ type: 'text', delta: 'ok' }, done(1, 1)],
    ]);
    const t = tools((name) =>
      name === 'read'
        ? { text: 'no such file', isError: true, denied: false }
        : { text: 'Denied.', isError: true, denied: true },
    );
    await collect(
      new ChatRunner({
        provider: p.provider,
        system: '',
        messages: question,
        tools: t.tools,
        signal: new AbortController().signal,
      }),
    );
    const results = p.requests[1]!.messages.at(-1)!.content as {
      content: string;
      isError?: boolean;
    }[];
    expect(results[0]).toMatchObject({ content: 'no such file', isError: true });
    expect(results[1]!.content).toMatch(
      /^Denied\. The user denied this tool call, so it did not run/,
    );
  });

  it('stops at the step limit and says so', async () => {
    const call: ChatEvent = { type: 'tool_call', id: 'x', name: 'read', input: {} };
    const p = scripted([
      [call, done(1, 1)],
      [call, done(1, 1)],
      [call, done(1, 1)],
    ]);
    const t = tools(() => ({ text: 'again', isError: false, denied: false }));
    const events = await collect(
      new ChatRunner({
        provider: p.provider,
        system: '',
        messages: question,
        tools: t.tools,
        maxSteps: 1,
        signal: new AbortController().signal,
      }),
    );
    expect(p.requests).toHaveLength(2);
    expect(t.calls).toHaveLength(1);
    expect(events.filter((e) => e.type === 'step_limit')).toEqual([
      { type: 'step_limit', maxSteps: 1 },
    ]);
    const end = events.at(-1) as Extract<RunEvent, { type: 'end' }>;
    expect(end.type).toBe('end');
    // The turns of the last step stand; the calls the limit cut are not kept.
    expect(end.turns).toBeUndefined();
    expect(events.filter((e) => e.type === 'step')).toHaveLength(1);
  });

  it('offers no tools and runs none when it has none', async () => {
    const p = scripted([[{ type: 'tool_call', id: 'x', name: 'read', input: {} }, done(1, 1)]]);
    const events = await collect(
      new ChatRunner({
        provider: p.provider,
        system: '',
        messages: question,
        signal: new AbortController().signal,
      }),
    );
    expect(p.requests[0]!.tools).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['tool_call', 'done', 'end']);
  });

  it("closes the provider's stream when the loop breaks", async () => {
    const p = scripted([[{ type: 'text', delta: 'a' }, { type: 'text', delta: 'b' }, done(1, 1)]]);
    const runner = new ChatRunner({
      provider: p.provider,
      system: '',
      messages: question,
      signal: new AbortController().signal,
    });
    for await (const ev of runner) {
      expect(ev).toEqual({ type: 'text', delta: 'a' });
      break;
    }
    expect(p.closed).toEqual([true]);
  });

  it('throws the abort reason when the signal fires during a tool call', async () => {
    const ac = new AbortController();
    const p = scripted([[{ type: 'tool_call', id: 'x', name: 'read', input: {} }, done(1, 1)]]);
    const t = tools(() => {
      ac.abort(new AbortError('stopped by the user'));
      return { text: 'late', isError: false, denied: false };
    });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const ev of new ChatRunner({
          provider: p.provider,
          system: '',
          messages: question,
          tools: t.tools,
          signal: ac.signal,
        }))
          seen.push(ev.type);
      })(),
    ).rejects.toBeInstanceOf(AbortError);
    expect(seen).toEqual(['tool_call', 'done', 'tool_run']);
    expect(p.requests).toHaveLength(1);
  });

  it('cuts the history to fit a small context window and says what it dropped', async () => {
    const p = scripted([[done(1, 1)]]);
    const long = 'x'.repeat(8000);
    const events = await collect(
      new ChatRunner({
        provider: p.provider,
        system: '',
        messages: [
          { role: 'user', content: long },
          { role: 'assistant', content: long },
          ...question,
        ],
        contextTokens: 2048,
        signal: new AbortController().signal,
      }),
    );
    expect(events[0]).toEqual({
      type: 'fitted',
      droppedMessages: 2,
      droppedTools: 0,
      contextTokens: 2048,
    });
    expect(p.requests[0]!.messages).toEqual(question);
  });

  it('runs once', async () => {
    const runner = new ChatRunner({
      provider: scripted([]).provider,
      system: '',
      messages: question,
      signal: new AbortController().signal,
    });
    await collect(runner);
    expect(() => runner[Symbol.asyncIterator]()).toThrow(/runs once/);
  });
});
