/**
 * A Provider built from an Adapter plus the reliability layer, per provider:
 * a token bucket (requests per second, burst), a concurrency limit per feature so
 * completion traffic cannot take chat's slots (bulkhead), retries with exponential backoff
 * and jitter honouring Retry-After — only until the first token streamed — connect,
 * first-token and idle timeouts, a circuit breaker (cockatiel) that fails fast while the
 * service is down and probes it again after a cool-down, an optional LRU+TTL cache for
 * identical completion requests, and usage accounting.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhen,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { LRUCache } from 'lru-cache';
import {
  AbortError,
  ProviderUnavailableError,
  RateLimitError,
  RuneError,
  TimeoutError,
  throwIfAborted,
} from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { metrics, METRICS } from '../core/metrics.js';
import { retryAfterOf, withRetry } from '../core/retry.js';
import { Semaphore } from '../core/semaphore.js';
import { TokenBucket } from '../core/token-bucket.js';
import { Watchdog, type PhaseTimeouts } from '../core/watchdog.js';
import type { Adapter, AdapterHooks, ModelReport } from './adapter.js';
import type {
  CallOptions,
  ChatEvent,
  ChatRequest,
  Completion,
  Feature,
  FimRequest,
  ModelInfo,
  Provider,
} from './types.js';
import type { UsageTracker } from './usage.js';

export interface ManagedSettings {
  /** The chat model when a request names none. */
  model: string;
  /** The fill-in-the-middle model when a request names none (default: `model`). */
  fimModel?: string;
  /** The chat answer's token limit when a request gives none (`max_tokens`). */
  maxTokens?: number;
  timeouts: PhaseTimeouts;
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number; maxRetryAfterMs: number };
  rateLimit?: { rps: number; burst: number };
  concurrency: { chat: number; completion: number };
  breaker?: { failures: number; cooldownMs: number };
  cache?: { max: number; ttlMs: number };
}

/** Provider state for :checkhealth and `rune.providers.list`. */
export interface ProviderState {
  circuit: 'closed' | 'open' | 'half_open';
  activeChat: number;
  activeCompletion: number;
  queued: number;
}

const MODELS_TTL_MS = 60_000;

export class ManagedProvider implements Provider {
  readonly kind: string;
  private readonly limiter: TokenBucket | undefined;
  private readonly slots: Record<'chat' | 'completion', Semaphore>;
  private readonly breaker: CircuitBreakerPolicy | undefined;
  private readonly cache: LRUCache<string, Completion[]> | undefined;
  private modelsCache: { at: number; models: ModelInfo[] } | undefined;
  private readonly inflight = new Set<AbortController>();
  private readonly label: string;

  constructor(
    readonly id: string,
    readonly adapter: Adapter,
    readonly settings: ManagedSettings,
    private readonly usage: UsageTracker,
    private readonly logger: Logger,
  ) {
    this.kind = adapter.kind;
    this.label = `${adapter.kind} provider "${id}"`;
    this.limiter = settings.rateLimit
      ? new TokenBucket({ rate: settings.rateLimit.rps, burst: settings.rateLimit.burst })
      : undefined;
    this.slots = {
      chat: new Semaphore({ limit: settings.concurrency.chat }),
      completion: new Semaphore({ limit: settings.concurrency.completion }),
    };
    if (settings.breaker) {
      this.breaker = circuitBreaker(handleWhen(countsAsOutage), {
        halfOpenAfter: settings.breaker.cooldownMs,
        breaker: new ConsecutiveBreaker(settings.breaker.failures),
      });
      this.breaker.onBreak(() =>
        this.logger.warn('provider circuit opened', { provider: id, url: adapter.url }),
      );
      this.breaker.onReset(() => this.logger.info('provider circuit closed', { provider: id }));
    }
    if (settings.cache) {
      this.cache = new LRUCache({ max: settings.cache.max, ttl: settings.cache.ttlMs });
    }
    const embed = adapter.embed?.bind(adapter);
    if (embed) this.embed = (input, opts = {}) => this.embedWith(embed, input, opts);
    if (adapter.didShow) this.didShow = (c) => adapter.didShow!(c);
    if (adapter.didAccept) this.didAccept = (c, n) => adapter.didAccept!(c, n);
  }

  /** Forwarded to the adapter when its service wants to hear it (Copilot). */
  readonly didShow?: (c: Completion) => void;
  readonly didAccept?: (c: Completion, acceptedChars?: number) => void;

  /** Embeddings, when the API has them (absent otherwise, as the contract says). */
  readonly embed?: (
    input: string[],
    opts?: CallOptions & { model?: string },
  ) => Promise<number[][]>;

  state(): ProviderState {
    const s = this.breaker?.state;
    return {
      circuit:
        s === CircuitState.Open || s === CircuitState.Isolated
          ? 'open'
          : s === CircuitState.HalfOpen
            ? 'half_open'
            : 'closed',
      activeChat: this.slots.chat.active,
      activeCompletion: this.slots.completion.active,
      queued: this.slots.chat.queued + this.slots.completion.queued,
    };
  }

  async *chat(request: ChatRequest, opts: CallOptions = {}): AsyncGenerator<ChatEvent> {
    const req =
      request.maxTokens === undefined && this.settings.maxTokens !== undefined
        ? { ...request, maxTokens: this.settings.maxTokens }
        : request;
    const model = req.model ?? this.settings.model;
    const call = this.begin(opts.signal);
    const t0 = performance.now();
    let release: (() => void) | undefined;
    let attempt: { iter: AsyncIterator<ChatEvent>; ac: AbortController; wd: Watchdog } | undefined;
    let finished = false;
    let recorded = false;
    let ttft: number | undefined;
    try {
      release = await this.slots.chat.acquire(call.signal, this.label);
      let first: IteratorResult<ChatEvent>;
      [attempt, first] = await this.withPolicies(call.signal, async () => {
        const ac = link(call.signal);
        const wd = new Watchdog(ac, this.settings.timeouts, this.label);
        wd.phase('connect');
        const stream = this.adapter.chat(req, model, ac.signal, this.hooks(wd));
        const iter = stream[Symbol.asyncIterator]();
        try {
          const r = await iter.next();
          return [{ iter, ac, wd }, r] as const;
        } catch (err) {
          wd.stop();
          ac.abort();
          throw this.mapError(err, wd, call.signal);
        }
      });
      let r = first;
      while (!r.done) {
        const ev = r.value;
        if (ttft === undefined && ev.type !== 'done' && ev.type !== 'notice') {
          ttft = performance.now() - t0;
          metrics
            .histogram(METRICS.providerTtft)
            .observe(ttft, { provider: this.id, feature: 'chat' });
        }
        if (ev.type === 'done') {
          const done = { ...ev, ttftMs: ttft ?? ev.ttftMs };
          this.usage.success(this.id, ev.model || model, {
            input: ev.usage.inputTokens,
            output: ev.usage.outputTokens,
            ttftMs: done.ttftMs,
          });
          finished = true;
          this.record('chat', t0, opts.signal);
          attempt.wd.stop();
          yield done;
          return;
        }
        attempt.wd.stop();
        yield ev;
        attempt.wd.phase('idle');
        try {
          r = await attempt.iter.next();
        } catch (err) {
          throw this.mapError(err, attempt.wd, call.signal);
        }
      }
      finished = true;
      this.record('chat', t0, opts.signal);
    } catch (err) {
      const e = this.mapError(err, attempt?.wd, call.signal);
      if (!(e instanceof AbortError)) this.usage.failure(this.id, model);
      recorded = true;
      this.record('chat', t0, opts.signal, e);
      throw e;
    } finally {
      // The caller stopped reading before the answer ended (a `break` out of its loop).
      if (!finished && !recorded) this.record('chat', t0, opts.signal, new AbortError());
      if (attempt) {
        attempt.wd.stop();
        if (!finished) {
          attempt.ac.abort(new AbortError());
          // Not awaited: the SDK's own cleanup must not delay the caller's break.
          void Promise.resolve(attempt.iter.return?.()).catch(() => {});
        }
        unlink(attempt.ac);
      }
      release?.();
      call.end();
    }
  }

  async complete(req: FimRequest, opts: CallOptions = {}): Promise<Completion[]> {
    const model = req.model ?? this.settings.fimModel ?? this.settings.model;
    const key = this.cache ? JSON.stringify([model, req]) : undefined;
    const hit = key !== undefined ? this.cache!.get(key) : undefined;
    if (hit) return hit.map((c) => ({ ...c }));
    const call = this.begin(opts.signal);
    const t0 = performance.now();
    let firstByte: number | undefined;
    let release: (() => void) | undefined;
    try {
      release = await this.slots.completion.acquire(call.signal, this.label);
      const res = await this.withPolicies(call.signal, () =>
        this.attempt(call.signal, (signal, hooks) => {
          firstByte = undefined;
          return this.adapter.complete(req, model, signal, {
            headers: () => {
              firstByte ??= performance.now();
              hooks.headers();
            },
            sent: () => hooks.sent?.(),
            notice: (m) => hooks.notice?.(m),
          });
        }),
      );
      // A completion is not streamed: its first byte is when the answer's headers came.
      metrics.histogram(METRICS.providerTtft).observe((firstByte ?? performance.now()) - t0, {
        provider: this.id,
        feature: 'completion',
      });
      this.record('completion', t0, opts.signal);
      this.usage.success(this.id, res.model || model, {
        input: res.usage.inputTokens,
        output: res.usage.outputTokens,
      });
      if (key !== undefined) this.cache!.set(key, res.completions);
      return res.completions.map((c) => ({ ...c }));
    } catch (err) {
      const e = this.mapError(err, undefined, call.signal);
      if (!(e instanceof AbortError)) this.usage.failure(this.id, model);
      this.record('completion', t0, opts.signal, e);
      throw e;
    } finally {
      release?.();
      call.end();
    }
  }

  /**
   * Records one request in the process-wide metrics: its duration when it succeeded, its
   * outcome, and the error's type. A request the caller cancelled (whatever reason its
   * signal carries) is `aborted`, not an error.
   */
  private record(feature: Feature, t0: number, caller?: AbortSignal, err?: RuneError): void {
    const outcome =
      err === undefined ? 'ok' : err instanceof AbortError || caller?.aborted ? 'aborted' : 'error';
    if (outcome === 'ok') {
      metrics
        .histogram(METRICS.providerDuration)
        .observe(performance.now() - t0, { provider: this.id, feature });
    }
    metrics.counter(METRICS.providerRequests).inc({ provider: this.id, feature, outcome });
    if (outcome === 'error') {
      metrics.counter(METRICS.errors).inc({ type: err!.code, area: 'provider' });
    }
  }

  async models(opts: CallOptions = {}): Promise<ModelInfo[]> {
    if (this.modelsCache && performance.now() - this.modelsCache.at < MODELS_TTL_MS) {
      return [...this.modelsCache.models];
    }
    const call = this.begin(opts.signal);
    try {
      const models = await this.withPolicies(call.signal, () =>
        this.attempt(call.signal, (signal, hooks) => {
          hooks.headers();
          return this.adapter.models(signal);
        }),
      );
      this.modelsCache = { at: performance.now(), models };
      return [...models];
    } catch (err) {
      throw this.mapError(err, undefined, call.signal);
    } finally {
      call.end();
    }
  }

  private async embedWith(
    embed: NonNullable<Adapter['embed']>,
    input: string[],
    opts: CallOptions & { model?: string },
  ): Promise<number[][]> {
    const model = opts.model ?? this.settings.model;
    const call = this.begin(opts.signal);
    try {
      return await this.withPolicies(call.signal, () =>
        this.attempt(call.signal, (signal, hooks) => {
          hooks.headers();
          return embed(input, model, signal);
        }),
      );
    } catch (err) {
      throw this.mapError(err, undefined, call.signal);
    } finally {
      call.end();
    }
  }

  /** Whether the service answers, for :checkhealth (no retries, short timeouts). */
  probe(timeoutMs = 3000): Promise<string> {
    return this.once(timeoutMs, (signal) => this.adapter.probe(signal));
  }

  /**
   * What the server says about `model` (default: the chat model) for :checkhealth, or
   * undefined when its API cannot tell.
   */
  async describe(model = this.settings.model, timeoutMs = 3000): Promise<ModelReport | undefined> {
    const describe = this.adapter.describe?.bind(this.adapter);
    if (!describe) return undefined;
    return this.once(timeoutMs, (signal) => describe(model, signal));
  }

  /** One call without retries under a total deadline. */
  private async once<T>(timeoutMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    const t = setTimeout(
      () =>
        ac.abort(new TimeoutError(`${this.label} did not answer within ${timeoutMs} ms.`, 'total')),
      timeoutMs,
    );
    try {
      return await fn(ac.signal);
    } catch (err) {
      if (ac.signal.reason instanceof TimeoutError) throw ac.signal.reason;
      throw this.adapter.mapError(err);
    } finally {
      clearTimeout(t);
    }
  }

  /** Aborts every call in flight and stops the timers. */
  dispose(): void {
    for (const ac of this.inflight) ac.abort(new AbortError('The provider was shut down.'));
    this.inflight.clear();
    this.limiter?.dispose();
    this.adapter.dispose?.();
  }

  private begin(signal: AbortSignal | undefined): { signal: AbortSignal; end(): void } {
    throwIfAborted(signal);
    const ac = link(signal);
    this.inflight.add(ac);
    return {
      signal: ac.signal,
      // Not aborted on the way out: a finished response's connection stays alive for reuse.
      end: () => {
        this.inflight.delete(ac);
        unlink(ac);
      },
    };
  }

  /** One non-streaming attempt under the phase timeouts. */
  private async attempt<T>(
    outer: AbortSignal,
    fn: (signal: AbortSignal, hooks: AdapterHooks) => Promise<T>,
  ): Promise<T> {
    const ac = link(outer);
    const wd = new Watchdog(ac, this.settings.timeouts, this.label);
    wd.phase('connect');
    try {
      return await fn(ac.signal, this.hooks(wd));
    } catch (err) {
      ac.abort();
      throw this.mapError(err, wd, outer);
    } finally {
      wd.stop();
      unlink(ac);
    }
  }

  /** Rate limit, circuit breaker and retries around one attempt. */
  private withPolicies<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const r = this.settings.retry;
    return withRetry(
      async () => {
        await this.limiter?.take(signal);
        if (!this.breaker) return fn();
        try {
          return await this.breaker.execute(fn);
        } catch (err) {
          if (err instanceof BrokenCircuitError) throw this.circuitOpen(err);
          throw err;
        }
      },
      {
        maxAttempts: r.maxAttempts,
        baseDelayMs: r.baseDelayMs,
        maxDelayMs: r.maxDelayMs,
        maxRetryAfterMs: r.maxRetryAfterMs,
        retryable: isRetryable,
        retryAfterMs: retryAfterOf,
        onRetry: ({ attempt, delayMs, error }) =>
          this.logger.info('provider retry', {
            provider: this.id,
            attempt,
            delayMs: Math.round(delayMs),
            error: error instanceof RuneError ? error.code : String(error),
          }),
      },
      signal,
    );
  }

  private circuitOpen(err: BrokenCircuitError): ProviderUnavailableError {
    const last = this.breaker?.lastFailure;
    const lastMsg = last && 'error' in last ? ` Last error: ${last.error.message}` : '';
    const secs = Math.ceil((this.settings.breaker?.cooldownMs ?? 0) / 1000);
    return new ProviderUnavailableError(
      `${this.label} is failing, so Rune is not sending it requests for now; it will try again within ${secs} s. Use another provider meanwhile (e.g. :RuneChat with a provider override).${lastMsg}`,
      this.adapter.url,
      { cause: err },
    );
  }

  /** The adapter's hooks for one attempt: phase changes, and notices for the log. */
  private hooks(wd: Watchdog): AdapterHooks {
    return {
      headers: () => wd.phase('first_token'),
      sent: () => wd.phase('first_token'),
      notice: (message) => this.logger.warn('provider notice', { provider: this.id, message }),
    };
  }

  private mapError(err: unknown, wd: Watchdog | undefined, outer: AbortSignal): RuneError {
    if (wd?.error) return wd.error;
    if (err instanceof RuneError) return err;
    if (outer.aborted) {
      const reason: unknown = outer.reason;
      return reason instanceof RuneError && !(reason instanceof AbortError)
        ? reason
        : new AbortError(undefined, { cause: err });
    }
    return this.adapter.mapError(err);
  }
}

const unlinks = new WeakMap<AbortController, () => void>();

/** A controller that also aborts when `parent` does (with its reason). */
function link(parent: AbortSignal | undefined): AbortController {
  const ac = new AbortController();
  if (!parent) return ac;
  if (parent.aborted) {
    ac.abort(parent.reason);
    return ac;
  }
  const onAbort = () => ac.abort(parent.reason);
  parent.addEventListener('abort', onAbort, { once: true });
  const off = () => parent.removeEventListener('abort', onAbort);
  unlinks.set(ac, off);
  ac.signal.addEventListener('abort', off, { once: true });
  return ac;
}

/** Detaches `ac` from its parent without aborting it (so no listener outlives the call). */
function unlink(ac: AbortController): void {
  unlinks.get(ac)?.();
  unlinks.delete(ac);
}

function isRetryable(err: unknown): boolean {
  if (err instanceof RateLimitError) return true;
  if (err instanceof ProviderUnavailableError) return !(err.cause instanceof BrokenCircuitError);
  if (err instanceof TimeoutError) return err.phase === 'connect';
  return false;
}

function countsAsOutage(err: Error): boolean {
  if (err instanceof ProviderUnavailableError) return true;
  if (err instanceof TimeoutError) return err.phase === 'connect' || err.phase === 'first_token';
  return false;
}
