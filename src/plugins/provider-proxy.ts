/**
 * A plugin's provider as a Rune Provider: each call crosses to the plugin's
 * worker (or sandboxed process); chat chunks stream back as events, and the
 * answer always ends with one `done`.
 */
import { RuneError } from '../core/errors.js';
import type {
  CallOptions,
  ChatEvent,
  ChatRequest,
  Completion,
  FimRequest,
  ModelInfo,
  Provider,
} from '../providers/types.js';
import type { ProviderSpec } from './manifest.js';
import type { PluginInstance } from './worker.js';

/** The counters of the plugin that provides it (shown by :RunePlugins). */
export interface PluginCounters {
  calls: number;
  errors: number;
}

/** A plugin's provider as a Rune Provider: calls cross to the plugin's worker. */
export class PluginProviderProxy implements Provider {
  readonly kind = 'plugin';
  readonly id: string;

  constructor(
    private readonly spec: ProviderSpec,
    private readonly instance: PluginInstance,
    private readonly plugin: PluginCounters,
    private readonly limits: { callTimeoutMs: number },
  ) {
    this.id = spec.id;
  }

  async *chat(req: ChatRequest, opts?: CallOptions): AsyncIterable<ChatEvent> {
    if (!this.spec.chat) throw new RuneError('unsupported', `Provider "${this.id}" has no chat().`);
    const queue: unknown[] = [];
    let wake: (() => void) | undefined;
    let finished = false;
    let failure: unknown;
    const ac = new AbortController();
    const onAbort = (): void => ac.abort();
    opts?.signal?.addEventListener('abort', onAbort, { once: true });
    const t0 = performance.now();
    let ttft: number | undefined;
    this.plugin.calls++;
    this.instance
      .call('chat', this.id, req, {
        signal: ac.signal,
        timeoutMs: this.limits.callTimeoutMs,
        onChunk: (ev) => {
          queue.push(ev);
          wake?.();
        },
      })
      .then(
        () => (finished = true),
        (err: unknown) => {
          failure = err;
          finished = true;
        },
      )
      .finally(() => wake?.());
    let sawDone = false;
    try {
      for (;;) {
        while (queue.length) {
          const ev = queue.shift() as ChatEvent | undefined;
          if (!ev || typeof ev !== 'object') continue;
          if (ev.type === 'text' && ttft === undefined) ttft = performance.now() - t0;
          if (ev.type === 'done') {
            sawDone = true;
            yield {
              type: 'done',
              usage: ev.usage ?? { inputTokens: 0, outputTokens: 0 },
              stopReason: ev.stopReason ?? 'end',
              model: ev.model ?? req.model ?? this.id,
              ...(ttft !== undefined ? { ttftMs: ttft } : {}),
            };
          } else yield ev;
        }
        if (finished) break;
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
      if (failure) {
        this.plugin.errors++;
        throw failure;
      }
      if (!sawDone) {
        yield {
          type: 'done',
          usage: { inputTokens: 0, outputTokens: 0 },
          stopReason: 'end',
          model: req.model ?? this.id,
          ...(ttft !== undefined ? { ttftMs: ttft } : {}),
        };
      }
    } finally {
      opts?.signal?.removeEventListener('abort', onAbort);
      if (!finished) ac.abort();
    }
  }

  async complete(req: FimRequest, opts?: CallOptions): Promise<Completion[]> {
    if (!this.spec.complete) {
      throw new RuneError('unsupported', `Provider "${this.id}" has no complete().`);
    }
    this.plugin.calls++;
    const v = await this.instance.call('complete', this.id, req, {
      signal: opts?.signal,
      timeoutMs: this.limits.callTimeoutMs,
    });
    return (Array.isArray(v) ? v : [v])
      .map((c) =>
        typeof c === 'string' ? { text: c } : isRecord(c) ? { text: String(c.text ?? '') } : null,
      )
      .filter((c): c is Completion => c !== null);
  }

  async models(opts?: CallOptions): Promise<ModelInfo[]> {
    if (!this.spec.models) return [];
    const v = await this.instance.call('models', this.id, null, {
      signal: opts?.signal,
      timeoutMs: this.limits.callTimeoutMs,
    });
    return (Array.isArray(v) ? v : []).map((m) => ({
      id: typeof m === 'string' ? m : String((m as { id?: unknown }).id ?? ''),
      provider: this.id,
    }));
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
