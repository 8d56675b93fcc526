/**
 * The inline completion engine: turns a stream of "the cursor is here now"
 * events into at most one provider request at a time, and shows an answer only
 * if nothing moved while it was on its way.
 *
 * Per keystroke it does constant work (remember the state, restart a timer,
 * abort the request in flight) and costs one notification from the editor,
 * with no call back. The text around the cursor is read once per request,
 * after the debounce, in one call that reads a bounded number of lines.
 *
 * The fastest ghost text is one already computed: answers are kept by the
 * context they were computed for (cache.ts), and after a suggestion is shown
 * the engine asks for the one that would follow it once accepted. With each
 * suggestion drawn the editor learns the rows where such answers may apply;
 * a key on one of them brings its (bounded) context along in its notification,
 * so a matching answer is drawn at once, with no request and no round trip.
 * Both go through the same checks as a fresh answer, so neither is drawn stale.
 */
import type { Disposable } from '../../core/disposable.js';
import { StateError, isAbort, toRuneError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { metrics, METRICS } from '../../core/metrics.js';
import type { Completion, FimRequest, Provider } from '../../providers/types.js';
import { AnswerCache, type Place, type Suggestions } from './cache.js';
import type { CompletionConfig } from './config.js';
import { afterAccepting, buildFim, cleanSuggestions, type CursorContext } from './text.js';

/** Where the cursor is: buffer, its `changedtick`, 0-based row and byte column. */
export interface CursorState {
  buf: number;
  tick: number;
  row: number;
  col: number;
}

/** What the engine needs from the editor. */
export interface CompletionUi {
  /** Reads the text around the cursor in one call; null when the buffer is gone. */
  readContext(state: CursorState): Promise<CursorContext | null>;
  /**
   * Shows suggestions as ghost text; false when the editor found them stale. `ref`
   * names this set of suggestions when the editor reports one accepted (`accepted`).
   * `hot` are the rows of `state.buf` where answers are already computed: a change
   * there comes with its context (`changed(state, ctx)`).
   */
  show(state: CursorState, items: string[], ref: number, hot: number[]): Promise<boolean>;
  /** Tells the user about a problem (the engine calls it once per distinct problem). */
  warn(message: string): void;
}

export interface CompletionStats {
  /** Provider requests sent. */
  requests: number;
  /** Requests aborted because the user typed on. */
  aborted: number;
  /** Answers dropped because the buffer or cursor had moved. */
  stale: number;
  /** Answers drawn as ghost text. */
  shown: number;
  errors: number;
  /** Answers drawn from the answer cache (or a speculative request), with no request of their own. */
  cached: number;
  /** Speculative requests sent: the next suggestion, as if the shown one were accepted. */
  speculative: number;
}

/** How much of a suggestion the user took: all of it, its next word, or its next line. */
export type AcceptKind = 'all' | 'word' | 'line';

/** A request's context read from the editor, and the request built from it. */
interface Prepared {
  ctx: CursorContext;
  req: FimRequest;
}

/** The request made for the context that accepting the shown suggestion would leave. */
interface Speculation {
  prefix: string;
  suffix: string;
  place: Place;
  ac: AbortController;
  /** The answer (also put in the cache), or undefined when the request failed or was aborted. */
  done: Promise<Suggestions | undefined>;
}

class Stale extends Error {}

/** Shown suggestion sets remembered for their acceptance; older ones are forgotten. */
const SHOWN_KEPT = 32;

export class CompletionEngine implements Disposable {
  readonly stats: CompletionStats = {
    requests: 0,
    aborted: 0,
    stale: 0,
    shown: 0,
    errors: 0,
    cached: 0,
    speculative: 0,
  };
  private seq = 0;
  private latest: CursorState | undefined;
  private timer: NodeJS.Timeout | undefined;
  private inflight: AbortController | undefined;
  private warned: string | undefined;
  private readonly asks = new Set<AbortController>();
  private readonly shownSets = new Map<number, Suggestions>();
  private nextRef = 0;
  private readonly cache: AnswerCache;
  private spec: Speculation | undefined;

  constructor(
    private readonly cfg: CompletionConfig,
    private readonly ui: CompletionUi,
    private readonly provider: () => Provider,
    private readonly logger: Logger,
    /** Told each failed request's error: offers such as pulling a missing model. */
    private readonly onError: (err: unknown) => void = () => undefined,
  ) {
    this.cache = new AnswerCache(cfg.cache_entries);
  }

  /**
   * The cursor moved or the text changed: forget what was pending and ask again after
   * the debounce. `ctx`, the text around the cursor read with the change (on a row
   * given as hot to `show`), lets an answer already computed be drawn at once.
   */
  changed(state: CursorState, ctx?: CursorContext): void {
    this.latest = state;
    const seq = ++this.seq;
    this.stopPending();
    let p: Prepared | undefined;
    if (ctx && ctx.tick === state.tick) {
      p = { ctx, req: this.requestFor(ctx, this.cfg.suggestions) };
      if (this.cache.get(p.req.prefix, p.req.suffix) || this.joinable(p)) {
        void this.run(seq, state, p);
        return;
      }
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run(seq, state, p);
    }, this.cfg.debounce_ms);
  }

  /** Left insert mode or the buffer: drop whatever is pending, the speculative request too. */
  cancel(): void {
    this.latest = undefined;
    this.seq++;
    this.stopPending();
    this.stopSpeculation();
  }

  /** Asks at once (`:RuneComplete`), for up to `n` alternatives. Throws on failure. */
  async ask(state: CursorState, n: number): Promise<string[]> {
    const ac = new AbortController();
    this.asks.add(ac);
    try {
      const p = await this.prepare(state, n);
      return (await this.request(p.req, ac.signal)).items;
    } catch (err) {
      if (err instanceof Stale) {
        throw new StateError('The buffer changed while Rune was asking; run :RuneComplete again.');
      }
      if (!isAbort(err)) this.countError(err);
      throw err;
    } finally {
      this.asks.delete(ac);
    }
  }

  /**
   * The user accepted suggestion `index` (1-based) of the set shown as `ref`: all of it, or
   * its first `bytes` bytes (UTF-8, as the editor counts them). Counted once per set; the
   * provider hears it when its service wants to (Copilot).
   */
  accepted(ref: number, index: number, kind: AcceptKind, bytes?: number): void {
    const set = this.shownSets.get(ref);
    const text = set?.items[index - 1];
    const completion = set?.completions[index - 1];
    if (!set || text === undefined || !completion) {
      this.logger.debug('acceptance of a suggestion no longer remembered', { ref, index });
      return;
    }
    this.shownSets.delete(ref);
    metrics.counter(METRICS.completionsAccepted).inc({ provider: set.provider.id, kind });
    const utf8 = Buffer.from(text, 'utf8');
    // The provider counts UTF-16 units of its own text; cleaning changed only its end (and CRs).
    const chars =
      bytes === undefined || bytes >= utf8.length
        ? undefined
        : utf8.subarray(0, bytes).toString('utf8').length;
    try {
      set.provider.didAccept?.(completion, chars);
    } catch (err) {
      this.logger.debug('provider didAccept failed', { err });
    }
  }

  dispose(): void {
    this.cancel();
    for (const ac of this.asks) ac.abort();
    this.asks.clear();
    this.cache.clear();
  }

  private stopPending(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.inflight) {
      this.inflight.abort();
      this.inflight = undefined;
      this.stats.aborted++;
    }
  }

  private stopSpeculation(): void {
    this.spec?.ac.abort();
    this.spec = undefined;
  }

  private joinable(p: Prepared): Speculation | undefined {
    const s = this.spec;
    return s && s.prefix === p.req.prefix && s.suffix === p.req.suffix ? s : undefined;
  }

  private async run(seq: number, state: CursorState, prepared?: Prepared): Promise<void> {
    const ac = new AbortController();
    this.inflight = ac;
    try {
      const p =
        prepared ??
        (await this.prepare(state, this.cfg.suggestions, () => {
          if (seq !== this.seq) throw new Stale();
        }));
      if (seq !== this.seq) throw new Stale();
      let got = this.cache.get(p.req.prefix, p.req.suffix);
      let fromCache = got !== undefined;
      if (!got) {
        const spec = this.joinable(p);
        got = spec && (await spec.done);
        if (ac.signal.aborted) return;
        fromCache = got !== undefined;
      }
      if (!got) {
        this.stopSpeculation();
        got = await this.request(p.req, ac.signal);
      }
      // Kept (again) under this context and place: the next look here finds it at once.
      this.cache.put(state, p.req.prefix, p.req.suffix, got);
      if (this.inflight === ac) this.inflight = undefined;
      if (seq !== this.seq || this.latest !== state) throw new Stale();
      this.warned = undefined;
      if (!got.items.length) return;
      // Remembered before drawing: the user may accept before show()'s answer is read.
      const ref = ++this.nextRef;
      this.shownSets.set(ref, got);
      if (this.shownSets.size > SHOWN_KEPT) {
        this.shownSets.delete(this.shownSets.keys().next().value!);
      }
      if (await this.ui.show(state, got.items, ref, this.hotRows(state, got.items[0]!))) {
        this.stats.shown++;
        if (fromCache) this.stats.cached++;
        metrics.counter(METRICS.completionsShown).inc({ provider: got.provider.id });
        try {
          got.provider.didShow?.(got.completions[0]!);
        } catch (err) {
          this.logger.debug('provider didShow failed', { err });
        }
        if (seq === this.seq) this.speculate(state, p.ctx, got.items[0]!);
      } else {
        this.shownSets.delete(ref);
        this.stats.stale++;
      }
    } catch (err) {
      if (this.inflight === ac) this.inflight = undefined;
      if (err instanceof Stale) {
        this.stats.stale++;
        return;
      }
      if (ac.signal.aborted || isAbort(err)) return;
      this.stats.errors++;
      this.report(err);
    }
  }

  /** Rows of the buffer with answers: the cache's, and where accepting `first` leaves the cursor. */
  private hotRows(state: CursorState, first: string): number[] {
    if (this.cfg.cache_entries <= 0) return [];
    const rows = this.cache.rows(state.buf);
    const after = this.placeAfter(state, first).row;
    if (!rows.includes(after)) rows.push(after);
    return rows;
  }

  private placeAfter(state: CursorState, text: string): Place {
    return { buf: state.buf, row: state.row + text.split('\n').length - 1 };
  }

  /**
   * Asks for the suggestion that would follow `text` once accepted, so that
   * accepting and pausing finds it ready. At most one such request runs; its
   * answer only enters the cache, drawn later only for exactly its context.
   */
  private speculate(state: CursorState, ctx: CursorContext, text: string): void {
    if (this.cfg.cache_entries <= 0) return;
    const req = this.requestFor(
      afterAccepting(ctx, text, this.cfg.prefix_lines),
      this.cfg.suggestions,
    );
    if (this.cache.has(req.prefix, req.suffix)) return;
    if (this.spec && this.spec.prefix === req.prefix && this.spec.suffix === req.suffix) return;
    this.stopSpeculation();
    const place = this.placeAfter(state, text);
    const ac = new AbortController();
    this.stats.speculative++;
    const spec: Speculation = {
      prefix: req.prefix,
      suffix: req.suffix,
      place,
      ac,
      done: Promise.resolve(undefined),
    };
    this.spec = spec;
    spec.done = (async () => {
      try {
        const got = await this.request(req, ac.signal);
        this.cache.put(place, req.prefix, req.suffix, got);
        return got;
      } catch (err) {
        if (!ac.signal.aborted && !isAbort(err)) {
          this.logger.debug('speculative completion request failed', { err });
        }
        return undefined;
      } finally {
        if (this.spec === spec) this.spec = undefined;
      }
    })();
  }

  private async prepare(
    state: CursorState,
    n: number,
    check: () => void = () => undefined,
  ): Promise<Prepared> {
    const ctx = await this.ui.readContext(state);
    check();
    if (!ctx || ctx.tick !== state.tick) throw new Stale();
    return { ctx, req: this.requestFor(ctx, n) };
  }

  private requestFor(ctx: CursorContext, n: number): FimRequest {
    const fim = buildFim(ctx, {
      maxPrefixChars: this.cfg.max_prefix_chars,
      maxSuffixChars: this.cfg.max_suffix_chars,
      maxSnippetChars: this.cfg.context_buffers.enabled ? this.cfg.context_buffers.max_chars : 0,
    });
    return {
      ...fim,
      n,
      maxTokens: this.cfg.max_tokens,
      ...(this.cfg.model ? { model: this.cfg.model } : {}),
      ...(this.cfg.temperature != null ? { temperature: this.cfg.temperature } : {}),
      ...(this.cfg.stop ? { stop: this.cfg.stop } : {}),
      ...(ctx.filetype ? { language: ctx.filetype } : {}),
      ...(ctx.filename ? { filename: ctx.filename } : {}),
    };
  }

  private async request(req: FimRequest, signal: AbortSignal): Promise<Suggestions> {
    const provider = this.provider();
    this.stats.requests++;
    const out = await provider.complete(req, { signal });
    signal.throwIfAborted();
    // Cleaned one by one so each text keeps its completion (and the provider's id for it).
    const items: string[] = [];
    const completions: Completion[] = [];
    for (const c of out) {
      const text = cleanSuggestions([c.text], req.suffix)[0];
      if (text === undefined || items.includes(text)) continue;
      items.push(text);
      completions.push(c);
    }
    return { provider, items, completions };
  }

  private countError(err: unknown): void {
    metrics.counter(METRICS.errors).inc({ type: toRuneError(err).code, area: 'completion' });
  }

  private report(err: unknown): void {
    const e = toRuneError(err);
    this.countError(e);
    this.logger.warn('inline completion failed', { err });
    this.onError(err);
    if (this.warned === e.message) return;
    this.warned = e.message;
    const hint =
      e.code === 'config'
        ? ' Configure a provider in setup({ providers = ... }) (see :help rune-completion), or turn inline completion off with completion.enabled = false.'
        : ' Rune keeps trying as you type (:RuneComplete disable turns it off for a buffer, completion.enabled = false everywhere); details in :RuneLog.';
    this.ui.warn(`inline completion: ${e.message}${hint}`);
  }
}
