/**
 * Host modules as declarations: each names what it needs, how it reads its part of
 * the config, and what it provides; the host works out the order.
 *
 * ```ts
 * export const chatModule = defineModule({
 *   name: 'chat',
 *   needs: [providersModule, toolsModule],
 *   config: (all) => parseChatConfig(all.chat),
 *   async activate(ctx) {
 *     ctx.needs.providers.registry(); // typed: the providers module's service
 *     return store;                   // or { dispose, service } to provide one
 *   },
 * });
 * ```
 *
 * The host activates modules so that each comes after what it needs (a cycle or a
 * need missing from the host's list stops the start with an error naming both),
 * hands each a context (its parsed config, a logger of its own, the metrics, the
 * editor facts gathered once in the handshake, and the services of its needs), and
 * disposes them in the reverse order. A module that fails to activate is off, and so
 * is every module that needs it; the rest run.
 */
import type { NeovimClient } from 'neovim';
import type { Disposable } from '../core/disposable.js';
import type { Logger } from '../core/log.js';
import { metrics } from '../core/metrics.js';
import { orderPlugins } from '../plugins/order.js';
import type { EditorFacts } from './facts.js';
import type { ReadyHost } from './host.js';

/** Any module, whatever its config, needs and service. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyModule = HostModule<string, any, readonly any[], any>;

/** The service a module provides (`undefined` when it provides none). */
export type ServiceOf<M> =
  M extends HostModule<string, unknown, readonly unknown[], infer S> ? S : never;

/** The services of `needs`, by module name. */
export type ServicesOf<N extends readonly unknown[]> = {
  readonly [
    M in N[number] as M extends { readonly name: infer K extends string } ? K : never
  ]: ServiceOf<M>;
};

/** What a module's activate() returns: how to stop it, and what it provides to the modules that need it. */
export type Activation<S> = Disposable & { readonly service?: S };

/** What the host hands a module's activate(). */
export interface ModuleContext<C, N extends readonly unknown[]> {
  /** Requests, notifications and health sections are added through the host. */
  readonly host: ReadyHost;
  readonly nvim: NeovimClient;
  /** The host's logger with `{ module: name }` on every line. */
  readonly logger: Logger;
  readonly metrics: typeof metrics;
  /** The module's config section, parsed by its `config`. */
  readonly config: C;
  /** What the editor told the host in the handshake (kept current: the cwd follows `:cd`). */
  readonly facts: EditorFacts;
  /** The services of the modules named in `needs`. */
  readonly needs: ServicesOf<N>;
}

export interface HostModule<
  Name extends string = string,
  C = unknown,
  N extends readonly unknown[] = readonly unknown[],
  S = unknown,
> {
  readonly name: Name;
  /** Modules activated before this one, whose services `ctx.needs` holds. */
  readonly needs: N;
  /** Parses the module's section of the user's config; a thrown error turns the module off. */
  config(all: Readonly<Record<string, unknown>>): C;
  activate(ctx: ModuleContext<C, N>): Activation<S> | Promise<Activation<S>>;
}

/** Declares a module; types flow from `needs` into `ctx.needs` and from activate's return into its service. */
export function defineModule<
  const Name extends string,
  C = undefined,
  const N extends readonly AnyModule[] = readonly [],
  S = undefined,
>(def: {
  name: Name;
  needs?: N;
  config?: (all: Readonly<Record<string, unknown>>) => C;
  activate(ctx: ModuleContext<C, N>): Activation<S> | Promise<Activation<S>>;
}): HostModule<Name, C, N, S> {
  return {
    name: def.name,
    needs: def.needs ?? ([] as unknown as N),
    config: def.config ?? (() => undefined as C),
    activate: def.activate,
  };
}

/** `disposable` providing `service` to the modules that need it (drain and async disposal kept). */
export function provide<D extends Disposable, S>(
  disposable: D,
  service: S,
): D & { readonly service: S } {
  return Object.assign(disposable, { service });
}

/** A module list that cannot start: a cycle, a need the list lacks, or two modules of one name. */
export class ModuleGraphError extends Error {
  override readonly name = 'ModuleGraphError';
}

/**
 * The activation order of `modules`: each after its needs, otherwise in the given
 * order. Throws ModuleGraphError naming the modules at fault.
 */
export function orderModules(modules: readonly AnyModule[]): AnyModule[] {
  const byName = new Map<string, AnyModule>();
  for (const m of modules) {
    if (byName.has(m.name)) throw new ModuleGraphError(`two host modules are named "${m.name}"`);
    byName.set(m.name, m);
  }
  for (const m of modules) {
    for (const n of m.needs as readonly AnyModule[]) {
      if (byName.get(n.name) !== n) {
        throw new ModuleGraphError(
          `the host module "${m.name}" needs "${n.name}", which is not in the host's module list (src/nvim/modules.ts)`,
        );
      }
    }
  }
  const { order, failed } = orderPlugins(
    modules.map((m) => ({
      id: m.name,
      dependsOn: (m.needs as readonly AnyModule[]).map((n) => n.name),
      m,
    })),
  );
  if (failed.length) {
    const cycle = failed.find((f) => f.reason.startsWith('dependency cycle'));
    const f = cycle ?? failed[0]!;
    throw new ModuleGraphError(`the host module "${f.node.id}" cannot start: ${f.reason}`);
  }
  return order.map((o) => o.m);
}

/** `modules` and, transitively, every module they need (needs first). */
export function withNeeds(modules: readonly AnyModule[]): AnyModule[] {
  const out: AnyModule[] = [];
  const seen = new Set<AnyModule>();
  const add = (m: AnyModule) => {
    if (seen.has(m)) return;
    seen.add(m);
    for (const n of m.needs as readonly AnyModule[]) add(n);
    out.push(m);
  };
  modules.forEach(add);
  return out;
}
