/** The hub's start progress: which state changes count as a start, and what it says. */
import { describe, expect, it } from 'vitest';
import type { ServerStatus } from '../../../src/mcp/hub/clients.js';
import type { Progress } from '../../../src/nvim/progress.js';
import { StartProgress } from '../../../src/nvim/hub/progress.js';

function st(name: string, state: ServerStatus['state'], reconnects = 0): ServerStatus {
  return {
    name,
    state,
    transport: 'stdio',
    tools: [],
    resources: 0,
    prompts: 0,
    reconnects,
    source: 'setup()',
    stderr: [],
    sandboxed: false,
  };
}

function tracker() {
  const shown: Progress[] = [];
  return { p: new StartProgress((x) => shown.push(x)), shown };
}

describe('StartProgress', () => {
  it('counts a batch and ends it with what failed', () => {
    const { p, shown } = tracker();
    p.observe([st('a', 'connecting'), st('b', 'connecting')]);
    p.observe([st('a', 'connected'), st('b', 'connecting')]);
    p.observe([st('a', 'connected'), st('b', 'failed')]);
    expect(shown.map((s) => [s.status, s.text])).toEqual([
      ['running', 'starting 2 MCP servers: 0/2, waiting for a, b'],
      ['running', 'starting 2 MCP servers: 1/2, waiting for b'],
      ['failed', '1/2 started; failed: b (see :RuneMcp servers)'],
    ]);
  });

  it('shows nothing for a reconnect after a failure', () => {
    const { p, shown } = tracker();
    p.observe([st('a', 'connecting')]);
    p.observe([st('a', 'failed')]);
    shown.length = 0;
    p.observe([st('a', 'connecting', 1)]);
    p.observe([st('a', 'failed', 1)]);
    expect(shown).toEqual([]);
  });

  it('a member that failed and retries while others start stays done', () => {
    const { p, shown } = tracker();
    p.observe([st('a', 'connecting'), st('b', 'connecting')]);
    p.observe([st('a', 'failed'), st('b', 'connecting')]);
    p.observe([st('a', 'connecting', 1), st('b', 'connecting')]);
    expect(shown.at(-1)!.text).toBe('starting 2 MCP servers: 1/2, waiting for b');
    p.observe([st('a', 'connecting', 1), st('b', 'connected')]);
    expect(shown.at(-1)).toMatchObject({
      status: 'failed',
      text: '1/2 started; failed: a (see :RuneMcp servers)',
    });
  });

  it('a server waiting for a sign-in is named as such', () => {
    const { p, shown } = tracker();
    p.observe([st('a', 'authorizing')]);
    expect(shown.at(-1)!.text).toBe('starting 1 MCP server: 0/1, waiting for a (sign in)');
  });
});
