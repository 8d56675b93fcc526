import { afterAll, describe, expect, it } from 'vitest';
import { startOllamaServer, type OllamaServer } from '../../helpers/servers/index.js';
import { pullOllamaModel, type PullProgress } from '../../../src/providers/ollama-pull.js';
import { whoFor } from '../../../src/providers/errors.js';
import { AbortError, BadRequestError } from '../../../src/core/errors.js';

const servers: OllamaServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

async function server(): Promise<OllamaServer> {
  const s = await startOllamaServer({ strictModels: true });
  servers.push(s);
  return s;
}

describe('pullOllamaModel', () => {
  it('reports each progress line and resolves on success', async () => {
    const s = await server();
    s.enqueue('pull', { pull: { total: 200, steps: 2 } });
    const seen: PullProgress[] = [];
    await pullOllamaModel(s.url, 'qwen3:4b', {
      who: whoFor('ollama', 'ollama', s.url),
      onProgress: (p) => seen.push(p),
    });
    expect(seen).toEqual([
      { status: 'pulling manifest' },
      { status: 'pulling dde5aa3fc5ff', percent: 50 },
      { status: 'pulling dde5aa3fc5ff', percent: 100 },
      { status: 'verifying sha256 digest' },
      { status: 'writing manifest' },
      { status: 'success' },
    ]);
  });

  it('turns the error line into a message naming the model', async () => {
    const s = await server();
    s.enqueue('pull', { pullError: 'pull model manifest: file does not exist' });
    const err = await pullOllamaModel(s.url, 'nosuch', { who: whoFor('ollama', 'o', s.url) }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BadRequestError);
    expect((err as Error).message).toBe(
      'Ollama could not pull nosuch: pull model manifest: file does not exist',
    );
  });

  it('reports a name the server refuses before streaming', async () => {
    const s = await server();
    const err = await pullOllamaModel(s.url, ':bad', { who: whoFor('ollama', 'o', s.url) }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain('invalid model name');
  });

  it('a stream cut short without success is an error, not a pull', async () => {
    const s = await server();
    s.enqueue('pull', { pull: { steps: 4 }, resetAfter: 3 });
    await expect(
      pullOllamaModel(s.url, 'qwen3:4b', { who: whoFor('ollama', 'o', s.url) }),
    ).rejects.toThrow();
  });

  it('aborts the request when cancelled', async () => {
    const s = await server();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    s.enqueue('pull', { pull: { steps: 4 }, stallAt: 2, stallUntil: gate });
    const ac = new AbortController();
    const closed = s.waitForClose();
    const p = pullOllamaModel(s.url, 'qwen3:4b', {
      who: whoFor('ollama', 'o', s.url),
      signal: ac.signal,
      onProgress: (x) => {
        if (x.percent === 25) ac.abort();
      },
    });
    await expect(p).rejects.toBeInstanceOf(AbortError);
    await closed;
    open();
  });
});
