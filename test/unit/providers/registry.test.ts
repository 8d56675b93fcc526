/** Providers added at run time (plugins): register, select, account, time out, remove. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  NotFoundError,
  RuneError,
  StateError,
  TimeoutError,
} from '../../../src/core/errors.js';
import { createMemoryLogger } from '../../../src/core/log.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { createProviderRegistry } from '../../../src/providers/registry.js';
import type {
  CallOptions,
  ChatEvent,
  ChatRequest,
  Completion,
  ModelInfo,
  Provider,
} from '../../../src/providers/types.js';
import { collect, rejection, textOf } from './helpers.js';

/** A provider as a plugin supplies it; `hold` keeps chat() waiting until its signal fires. */
class FakeProvider implements Provider {
  readonly kind = 'plugin';
  readonly requests: ChatRequest[] = [];
  readonly signals: AbortSignal[] = [];
  hold = false;

  constructor(
    readonly id: string,
    private readonly reply: string,
  ) {}

  async *chat(req: ChatRequest, opts?: CallOptions): AsyncGenerator<ChatEvent> {
    this.requests.push(req);
    if (opts?.signal) this.signals.push(opts.signal);
    yield { type: 'text', delta: this.reply };
    if (this.hold) {
      await new Promise<void>((_, reject) =>
        opts?.signal?.addEventListener('abort', () => reject(new Error('aborted')), {
          once: true,
        }),
      );
    }
    yield {
      type: 'done',
      usage: { inputTokens: 3, outputTokens: 5 },
      stopReason: 'end',
      model: req.model ?? 'fake-default',
    };
  }

  complete(): Promise<Completion[]> {
    return Promise.resolve([{ text: `${this.reply}()` }]);
  }

  models(): Promise<ModelInfo[]> {
    return Promise.resolve([{ id: 'fake-a', provider: this.id }]);
  }
}

/** Never answers: waits for its signal, as a stuck plugin would. */
class SilentProvider extends FakeProvider {
  override async *chat(_req: ChatRequest, opts?: CallOptions): AsyncGenerator<ChatEvent> {
    if (opts?.signal) this.signals.push(opts.signal);
    await new Promise<void>((_, reject) =>
      opts?.signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    );
    yield* [];
  }
}

function registry(config: Record<string, unknown>) {
  return createProviderRegistry(parseProvidersConfig(config), { logger: createMemoryLogger() });
}

const ask = (text: string): ChatRequest => ({ messages: [{ role: 'user', content: text }] });

describe('provider registry: providers added at run time', () => {
  it('resolves, lists and accounts a registered provider, and removes it on dispose', async () => {
    const r = registry({ providers: { ollama: {} }, chat: { provider: 'echo' } });
    expect(r.missing()).toEqual([{ id: 'echo', defaultFor: ['chat'] }]);
    // Named by the user's option: the error says which option, to fix in setup().
    const before = await rejection(Promise.resolve().then(() => r.get('chat')));
    expect(before).toBeInstanceOf(ConfigError);
    expect(before).toMatchObject({ path: 'chat.provider' });
    expect(before.message).toMatch(/"echo", which is not configured, .*:RunePlugins.*: ollama$/);
    // Asked for by id (a chat's own choice, a request): not found.
    const other = await rejection(Promise.resolve().then(() => r.get('chat', 'other')));
    expect(other).toBeInstanceOf(NotFoundError);
    expect(other.message).toMatch(/No provider named "other": .*:RunePlugins.*available: ollama\./);

    const fake = new FakeProvider('echo', 'hi from echo');
    const handle = r.register(fake);
    expect(r.get('chat').id).toBe('echo');
    expect(r.get('completion').id).toBe('ollama');
    expect(r.missing()).toEqual([]);
    expect(r.list().map((p) => [p.id, p.kind, p.defaultFor, p.plugin ?? false])).toEqual([
      ['echo', 'plugin', ['chat'], true],
      ['ollama', 'ollama', ['completion'], false],
    ]);
    expect(await r.keyStatus('echo')).toEqual({ ok: true, message: 'supplied by a plugin' });

    const events = await collect(r.get('chat').chat({ ...ask('q'), model: 'big' }));
    expect(textOf(events)).toBe('hi from echo');
    expect(events.at(-1)).toMatchObject({ type: 'done', model: 'big' });
    expect(fake.requests[0]!.model).toBe('big');
    // No model configured: the request goes to the plugin without one.
    await collect(r.get('chat', 'echo').chat(ask('q2')));
    expect(fake.requests[1]!.model).toBeUndefined();
    expect(await r.get('completion', 'echo').complete({ prefix: 'a', suffix: 'b' })).toEqual([
      { text: 'hi from echo()' },
    ]);
    expect(await r.get('chat', 'echo').models()).toEqual([{ id: 'fake-a', provider: 'echo' }]);
    expect(r.usage().filter((u) => u.provider === 'echo')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ model: 'big', requests: 1, inputTokens: 3, outputTokens: 5 }),
        expect.objectContaining({ model: 'fake-default', requests: 1, outputTokens: 5 }),
      ]),
    );

    const held = r.get('chat', 'echo');
    handle.dispose();
    expect(r.list().map((p) => p.id)).toEqual(['ollama']);
    const gone = await rejection(Promise.resolve().then(() => r.get('chat')));
    expect(gone).toBeInstanceOf(NotFoundError);
    expect(gone.message).toMatch(/The provider "echo" is gone: .*:RunePlugins.*:RuneChatModel/);
    // A caller that kept the provider object gets the same answer instead of a dead plugin.
    const stale = await rejection(collect(held.chat(ask('q3'))));
    expect(stale).toBeInstanceOf(NotFoundError);
    expect(stale.message).toContain('"echo" is gone');
    expect(r.missing()).toEqual([{ id: 'echo', defaultFor: ['chat'] }]);
    handle.dispose();
    r.dispose();
  });

  it('replaces a provider on reload: the old handle no longer removes the new one', async () => {
    const r = registry({ providers: { ollama: {} } });
    const first = r.register(new FakeProvider('echo', 'v1'));
    first.dispose();
    const second = r.register(new FakeProvider('echo', 'v2'));
    first.dispose();
    expect(textOf(await collect(r.get('chat', 'echo').chat(ask('q'))))).toBe('v2');
    second.dispose();
    r.dispose();
  });

  it('fails a call in flight with an error naming the removed provider', async () => {
    const r = registry({ providers: { ollama: {} } });
    const fake = new FakeProvider('echo', 'partial');
    fake.hold = true;
    const handle = r.register(fake);
    const it = r.get('chat', 'echo').chat(ask('q'))[Symbol.asyncIterator]();
    expect(await it.next()).toEqual({ done: false, value: { type: 'text', delta: 'partial' } });
    const rest = it.next();
    handle.dispose();
    const err = await rejection(rest);
    expect(err).toBeInstanceOf(StateError);
    expect(err.message).toMatch(/"echo" went away during the call.*:RuneChatModel/);
    expect(fake.signals[0]!.aborted).toBe(true);
    expect(r.usage()).toEqual([expect.objectContaining({ provider: 'echo', errors: 1 })]);
    r.dispose();
  });

  it('gives a registered provider the timeouts of its providers.<id> declaration', async () => {
    const r = registry({
      providers: {
        ollama: {},
        slow: { kind: 'plugin', model: 'm', timeouts: { first_token_ms: 30 } },
      },
    });
    expect(r.list().map((p) => p.id)).toEqual(['ollama']);
    expect(r.missing()).toEqual([{ id: 'slow', defaultFor: [] }]);
    expect(() => r.get('chat', 'slow')).toThrow(
      /"slow" \(providers\.slow, kind 'plugin'\) is not available: no loaded plugin supplies it/,
    );
    const silent = new SilentProvider('slow', '');
    r.register(silent);
    expect(r.list().find((p) => p.id === 'slow')).toMatchObject({ model: 'm', url: 'plugin:slow' });
    const err = await rejection(collect(r.get('chat', 'slow').chat(ask('q'))));
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as TimeoutError).phase).toBe('first_token');
    expect(err.message).toContain('plugin provider "slow"');
    // The plugin saw the cancellation, and the call was not repeated (no retries by default).
    expect(silent.signals).toHaveLength(1);
    expect(silent.signals[0]!.aborted).toBe(true);
    r.dispose();
  });

  it('refuses an id a configured provider or another registration holds', () => {
    const r = registry({ providers: { ollama: {} } });
    const taken = (() => {
      try {
        r.register(new FakeProvider('ollama', 'x'));
      } catch (err) {
        return err as RuneError;
      }
      throw new Error('expected a refusal');
    })();
    expect(taken.code).toBe('conflict');
    expect(taken.message).toContain('providers.ollama');
    expect(r.get('chat', 'ollama').kind).toBe('ollama');
    r.register(new FakeProvider('echo', 'a'));
    expect(() => r.register(new FakeProvider('echo', 'b'))).toThrow(/already supplied/);
    r.dispose();
  });

  it('keeps the ConfigError for an unknown id when plugins are off', () => {
    const r = registry({ providers: { ollama: {} }, plugins: { enabled: false } });
    expect(() => r.get('chat', 'nope')).toThrow(ConfigError);
    expect(() => r.get('chat', 'nope')).toThrow(/no provider named "nope"; configured: ollama/);
    r.dispose();
  });
});

describe('provider registry: kinds from outside', () => {
  it('reports a kind with no adapter factory, and builds it with the one given', () => {
    const cfg = parseProvidersConfig({ providers: { copilot: {} } });
    expect(() => createProviderRegistry(cfg, { logger: createMemoryLogger() })).toThrow(
      /providers\.copilot\.kind: providers of kind 'copilot' are not available here/,
    );
    const seen: string[] = [];
    const r = createProviderRegistry(cfg, {
      logger: createMemoryLogger(),
      kinds: {
        copilot: (p) => {
          seen.push(`${p.id} ${p.url}`);
          return {
            kind: 'copilot',
            url: p.url,
            chat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => never() }) }),
            complete: () => never(),
            models: () => Promise.resolve([]),
            probe: () => Promise.resolve('ok'),
            mapError: (e) => new RuneError('x', String(e)),
          };
        },
      },
    });
    expect(seen).toEqual(['copilot https://api.github.com']);
    expect(r.get('chat').kind).toBe('copilot');
    r.dispose();
  });

  it('keeps the registry and the HTTP providers free of imports outside core/', () => {
    const dir = path.resolve(import.meta.dirname, '../../../src/providers');
    for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.ts') && x !== 'copilot.ts')) {
      const src = fs.readFileSync(path.join(dir, f), 'utf8');
      const ours = [...src.matchAll(/from '(\.[^']*)'/g)].map((m) => m[1]!);
      expect(
        ours.filter((m) => !m.startsWith('./') && !m.startsWith('../core/')),
        f,
      ).toEqual([]);
      expect(ours, f).not.toContain('./copilot.js');
    }
  });
});

function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}
