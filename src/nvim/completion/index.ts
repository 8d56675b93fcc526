/**
 * Inline completion as a host module: serves the notifications sent by
 * lua/rune/completion.lua and draws through lua/rune/ghost.lua.
 *
 *   rune.completion.changed(buf, tick, row, col [, ctx])
 *                                                   cursor moved or text changed (insert mode);
 *                                                   on a row given as hot to ghost.show, with
 *                                                   the text around the cursor (`_context`)
 *   rune.completion.cancel()                       left insert mode: abort what is pending
 *   rune.completion.ask(id, buf, tick, row, col, n) `:RuneComplete`: answered through
 *                                                   require('rune.completion')._answer(id, items, err)
 *                                                   (err is '' on success)
 *   rune.completion.accepted(ref, index, kind, bytes) ghost text accepted (once per shown set):
 *                                                   suggestion `index` of set `ref`, `kind`
 *                                                   all | word | line, its first `bytes` bytes
 */
import { DisposableStore, toDisposable } from '../../core/disposable.js';
import { BadRequestError, toRuneError } from '../../core/errors.js';
import type { HealthItem, ReadyHost } from '../host.js';
import { providersModule } from '../providers.js';
import { defineModule } from '../module.js';
import { parseCompletionConfig, type CompletionConfig } from './config.js';
import {
  CompletionEngine,
  type AcceptKind,
  type CompletionUi,
  type CursorState,
} from './engine.js';
import type { CursorContext } from './text.js';

function int(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new BadRequestError(`rune.completion: ${name} must be an integer, got ${typeof v}`);
  }
  return v;
}

const ACCEPT_KINDS: readonly AcceptKind[] = ['all', 'word', 'line'];

function cursorOf(args: unknown[], at = 0): CursorState {
  return {
    buf: int(args[at], 'buf'),
    tick: int(args[at + 1], 'tick'),
    row: int(args[at + 2], 'row'),
    col: int(args[at + 3], 'col'),
  };
}

/** A context as lua/rune/completion.lua `_context` returns it; null when there is none. */
function contextOf(raw: unknown): CursorContext | null {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return null;
  const ctx = raw as CursorContext;
  if (typeof ctx.tick !== 'number') return null;
  // Empty Lua tables arrive as {} or []; normalise the lists.
  return {
    ...ctx,
    above: Array.isArray(ctx.above) ? ctx.above : [],
    below: Array.isArray(ctx.below) ? ctx.below : [],
    snippets: Array.isArray(ctx.snippets) ? ctx.snippets : [],
  };
}

function nvimUi(host: ReadyHost, cfg: CompletionConfig): CompletionUi {
  const limits = {
    prefix_lines: cfg.prefix_lines,
    suffix_lines: cfg.suffix_lines,
    // Bytes of the cursor line kept on each side; a character is at most 4 bytes.
    before_bytes: cfg.max_prefix_chars * 4,
    after_bytes: cfg.max_suffix_chars * 4,
    context_buffers: cfg.context_buffers,
  };
  return {
    async readContext(s) {
      return contextOf(
        await host.nvim.lua('return require("rune.completion")._context(...)', [
          s.buf,
          s.row,
          s.col,
          limits,
        ]),
      );
    },
    async show(s, items, ref, hot) {
      // One call draws and tells Lua where a key should bring its context along.
      const shown = await host.nvim.lua('return require("rune.completion")._show(...)', [
        s.buf,
        s.tick,
        s.row,
        s.col,
        items,
        ref,
        hot,
        limits,
      ]);
      return shown === true;
    },
    warn(message) {
      void host.nvim
        .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [message])
        .catch(() => undefined);
    },
  };
}

export const completionModule = defineModule({
  name: 'completion',
  needs: [providersModule],
  config: (all) => parseCompletionConfig(all.completion),
  activate(ctx) {
    const { host, config: cfg, logger: log } = ctx;
    const providers = ctx.needs.providers;
    const engine = new CompletionEngine(
      cfg,
      nvimUi(host, cfg),
      () => providers.registry().get('completion', cfg.provider),
      log,
      (err) => providers.offerPull(err),
    );
    const store = new DisposableStore();
    store.add(engine);
    store.add(
      host.onNotification('rune.completion.changed', (args) =>
        engine.changed(cursorOf(args), contextOf(args[4]) ?? undefined),
      ),
    );
    store.add(host.onNotification('rune.completion.cancel', () => engine.cancel()));
    store.add(
      host.onNotification('rune.completion.accepted', (args) => {
        const kind = ACCEPT_KINDS.find((k) => k === args[2]);
        if (!kind)
          throw new BadRequestError(`rune.completion.accepted: unknown kind ${String(args[2])}`);
        const bytes = typeof args[3] === 'number' ? args[3] : undefined;
        engine.accepted(int(args[0], 'ref'), int(args[1], 'index'), kind, bytes);
      }),
    );
    store.add(
      host.onNotification('rune.completion.ask', async (args) => {
        const id = int(args[0], 'id');
        const n = typeof args[5] === 'number' ? args[5] : Math.max(3, cfg.suggestions);
        let items: string[] | null = null;
        let error: string | null = null;
        try {
          items = await engine.ask(cursorOf(args, 1), n);
        } catch (err) {
          error = toRuneError(err).message;
          log.warn('on-demand completion failed', { err });
        }
        await host.nvim.lua('require("rune.completion")._answer(...)', [
          id,
          items ?? [],
          error ?? '',
        ]);
      }),
    );
    store.add(
      host.addHealth('completion', async () => {
        const s = engine.stats;
        const items: HealthItem[] = [];
        try {
          const p = providers.registry().get('completion', cfg.provider);
          items.push({ level: 'ok', message: `provider: ${p.id} (${p.kind})` });
        } catch (err) {
          items.push({
            level: 'warn',
            message: `no completion provider: ${toRuneError(err).message}`,
            advice: ['Configure one in setup({ providers = ... }), or set completion.provider'],
          });
        }
        const conflicts = (await host.nvim.lua(
          'return require("rune.context").ghost_conflicts()',
          [],
        )) as Record<string, string> | unknown[];
        const taken = Array.isArray(conflicts) ? [] : Object.entries(conflicts);
        if (taken.length) {
          items.push({
            level: 'warn',
            message: `keys left alone because they already had insert-mode mappings: ${taken
              .map(([action, lhs]) => `completion.keys.${action} (${lhs})`)
              .join(', ')}`,
            advice: [
              'Pick other keys in setup({ completion = { keys = { ... } } })',
              'or map <Plug>(rune-accept) and friends yourself (:help rune-completion-keys)',
            ],
          });
        }
        items.push({
          level: 'info',
          message: `debounce ${cfg.debounce_ms} ms; ${s.requests} requests (${s.speculative} ahead of an acceptance), ${s.shown} shown (${s.cached} already computed), ${s.aborted} aborted, ${s.stale} stale, ${s.errors} errors`,
        });
        return items;
      }),
    );
    return toDisposable(() => store.dispose());
  },
});
