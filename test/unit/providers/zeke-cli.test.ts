/**
 * The zeke provider through the `zeke` CLI when `zeke serve` does not answer, with a fake
 * `zeke` on PATH that prints what the real CLI prints (test/fixtures/zeke/bin/zeke).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortError } from '../../../src/core/errors.js';
import { ROOT, alive, waitFor } from '../../helpers/nvim.js';
import { collect, registryFor, rejection, textOf } from './helpers.js';

const BIN = path.join(ROOT, 'test', 'fixtures', 'zeke', 'bin');
// Nothing listens here: port 9 (discard) on loopback refuses.
const NO_SERVER = 'http://127.0.0.1:9';

let dir: string;
let reg: ReturnType<typeof registryFor>['registry'];

function registry(extra: NodeJS.ProcessEnv = {}) {
  return registryFor(
    { zeke: { url: NO_SERVER, retry: { max_attempts: 1 } } },
    {},
    { PATH: `${BIN}:/usr/bin:/bin`, FAKE_ZEKE_DIR: dir, ...extra },
  ).registry;
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-zeke-cli-'));
});
afterEach(() => {
  reg?.dispose();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('zeke provider (zeke CLI)', () => {
  it('chats through `zeke chat --stream --json` when zeke serve does not answer', async () => {
    reg = registry({ FAKE_ZEKE_ANSWER: 'Hello from the CLI\nline two' });
    const events = await collect(
      reg.get('chat').chat({ messages: [{ role: 'user', content: 'hi "there" $HOME' }] }),
    );
    expect(textOf(events)).toBe('Hello from the CLI\nline two');
    expect(events.at(-1)).toMatchObject({ type: 'done', model: 'zeke CLI' });
    // One argument, no shell: quotes and $ arrive as typed.
    expect(fs.readFileSync(path.join(dir, 'message.txt'), 'utf8')).toBe('hi "there" $HOME');
  });

  it('streams: the first words arrive while zeke still runs, and stopping kills its process group', async () => {
    reg = registry({ FAKE_ZEKE_MODE: 'hang' });
    const ac = new AbortController();
    const stream = reg
      .get('chat')
      .chat({ messages: [{ role: 'user', content: 'q' }] }, { signal: ac.signal });
    const it = stream[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.value).toEqual({ type: 'text', delta: 'first words ' });
    const zeke = Number(await waitFor(() => read(path.join(dir, 'zeke.pid'))));
    const child = Number(await waitFor(() => read(path.join(dir, 'child.pid'))));
    expect(alive(zeke) && alive(child)).toBe(true);
    ac.abort();
    expect(await rejection(it.next())).toBeInstanceOf(AbortError);
    await waitFor(() => !alive(zeke) && !alive(child), 5000, 'zeke and its child to exit');
  });

  it('completes through the CLI', async () => {
    reg = registry({ FAKE_ZEKE_ANSWER: 'n + 1' });
    expect(await reg.get('completion').complete({ prefix: 'return ', suffix: ';' })).toEqual([
      { text: 'n + 1' },
    ]);
    expect(fs.readFileSync(path.join(dir, 'message.txt'), 'utf8')).toContain('return <CURSOR>;');
  });

  it("reports zeke's own failure line, once (not retried)", async () => {
    reg = registryFor(
      { zeke: { url: NO_SERVER, retry: { base_delay_ms: 5, max_delay_ms: 20 } } },
      {},
      { PATH: `${BIN}:/usr/bin:/bin`, FAKE_ZEKE_DIR: dir, FAKE_ZEKE_MODE: 'error' },
    ).registry;
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'q' }] })),
    );
    expect(err.message).toContain('the zeke CLI failed: Streaming failed: error.ConnectionRefused');
    expect(fs.readFileSync(path.join(dir, 'calls.txt'), 'utf8')).toBe('call\n');
  });

  it('says so when zeke is neither serving nor on PATH', async () => {
    reg = registryFor(
      { zeke: { url: NO_SERVER, retry: { max_attempts: 1 } } },
      {},
      { PATH: '/usr/bin:/bin' },
    ).registry;
    const err = await rejection(
      collect(reg.get('chat').chat({ messages: [{ role: 'user', content: 'q' }] })),
    );
    expect(err.message).toContain('does not answer at http://127.0.0.1:9');
    expect(err.message).toContain('no `zeke` program is on PATH');
    expect(
      await reg
        .managed('zeke')
        .probe()
        .catch((e: Error) => e.message),
    ).toContain('no `zeke` program is on PATH');
  });

  it('names the CLI in the health probe', async () => {
    reg = registry();
    expect(await reg.managed('zeke').probe()).toBe(
      `through the zeke CLI at ${path.join(BIN, 'zeke')} (zeke serve is not running)`,
    );
  });
});

function read(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}
