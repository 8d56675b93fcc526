/** What the tool registry records in the process-wide metrics for each call. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeniedError } from '../../../src/core/errors.js';
import { metrics, METRICS, statsReport } from '../../../src/core/metrics.js';
import { ToolRegistry, type ToolContext } from '../../../src/tools/registry.js';

function ctx(signal = new AbortController().signal): ToolContext {
  return {
    signal,
    progress: () => undefined,
    caller: { client: 'test' },
    review: async () => ({ accepted: [] }),
  };
}

let reg: ToolRegistry;
beforeEach(() => {
  metrics.reset();
  reg = new ToolRegistry();
  reg.register({
    name: 'echo',
    description: 'echoes',
    inputSchema: { text: z.string() },
    annotations: { readOnlyHint: true },
    handler: ({ text }) => text,
  });
  reg.register({
    name: 'boom',
    description: 'fails',
    inputSchema: {},
    handler: () => {
      throw new Error('disk on fire');
    },
  });
  reg.register({
    name: 'wait',
    description: 'waits until cancelled',
    inputSchema: {},
    handler: (_args, c) =>
      new Promise((_resolve, reject) =>
        c.signal.addEventListener('abort', () => reject(c.signal.reason as Error)),
      ),
  });
});
afterEach(() => metrics.reset());

const calls = (tool: string, outcome: string) =>
  metrics.counter(METRICS.toolCalls).get({ tool, outcome });
const errors = (type: string) => metrics.counter(METRICS.errors).get({ type, area: 'tool' });

describe('tool call metrics', () => {
  it('counts calls by outcome and records their duration', async () => {
    expect((await reg.call('echo', { text: 'hi' }, ctx())).isError).toBeUndefined();
    expect((await reg.call('echo', { text: 'again' }, ctx())).isError).toBeUndefined();
    expect((await reg.call('echo', { text: 3 }, ctx())).isError).toBe(true);
    expect((await reg.call('boom', {}, ctx())).isError).toBe(true);
    expect(calls('echo', 'ok')).toBe(2);
    expect(calls('echo', 'error')).toBe(1);
    expect(calls('boom', 'error')).toBe(1);
    expect(errors('bad_request')).toBe(1);
    expect(errors('internal')).toBe(1);
    expect(metrics.histogram(METRICS.toolDuration).get({ tool: 'echo' })?.count).toBe(3);
    expect(statsReport().tools.map((t) => [t.tool, t.calls, t.errors])).toEqual([
      ['boom', 1, 1],
      ['echo', 3, 1],
    ]);
  });

  it('does not count a refused or cancelled call as an error', async () => {
    const deny = () => Promise.reject(new DeniedError('The user declined.'));
    expect((await reg.call('boom', {}, ctx(), deny)).isError).toBe(true);
    const ac = new AbortController();
    const pending = reg.call('wait', {}, ctx(ac.signal));
    ac.abort(new Error('client cancelled'));
    expect((await pending).isError).toBe(true);
    expect(calls('boom', 'denied')).toBe(1);
    expect(calls('wait', 'aborted')).toBe(1);
    expect(metrics.counter(METRICS.errors).collect()).toEqual([]);
  });

  it('counts a call of an unknown tool as an error without a series per made-up name', async () => {
    expect((await reg.call('no_such_tool', {}, ctx())).isError).toBe(true);
    expect(errors('not_found')).toBe(1);
    expect(metrics.counter(METRICS.toolCalls).collect()).toEqual([]);
  });
});
