import { describe, expect, expectTypeOf, it } from 'vitest';
import { toDisposable } from '../../../src/core/disposable.js';
import {
  ModuleGraphError,
  defineModule,
  orderModules,
  provide,
  withNeeds,
  type AnyModule,
} from '../../../src/nvim/module.js';
import { defaultModules } from '../../../src/nvim/modules.js';
import type { EditorFacts } from '../../../src/nvim/facts.js';
import { parseHandshake } from '../../../src/nvim/facts.js';

const none = () => toDisposable(() => undefined);

const base = defineModule({
  name: 'base',
  config: (all) => ({ size: Number(all.size ?? 1) }),
  activate: (ctx) => provide(none(), { size: ctx.config.size, hello: (n: string) => `hi ${n}` }),
});
const middle = defineModule({
  name: 'middle',
  needs: [base],
  activate: (ctx) => provide(none(), { twice: () => ctx.needs.base.size * 2 }),
});
const top = defineModule({
  name: 'top',
  needs: [middle, base],
  activate(ctx) {
    expectTypeOf(ctx.needs.middle.twice).toEqualTypeOf<() => number>();
    expectTypeOf(ctx.needs.base.hello).toEqualTypeOf<(n: string) => string>();
    expectTypeOf(ctx.config).toEqualTypeOf<undefined>();
    expectTypeOf(ctx.facts).toEqualTypeOf<EditorFacts>();
    return none();
  },
});

describe('host modules', () => {
  it('orders modules after what they need, otherwise in the order given', () => {
    const other = defineModule({ name: 'other', activate: none });
    expect(orderModules([top, other, middle, base]).map((m) => m.name)).toEqual([
      'other',
      'base',
      'middle',
      'top',
    ]);
  });

  it('adds the modules needed, transitively, before those that need them', () => {
    expect(withNeeds([top]).map((m) => m.name)).toEqual(['base', 'middle', 'top']);
  });

  it('refuses a module list that lacks a need, naming both modules', () => {
    expect(() => orderModules([top, middle])).toThrow(ModuleGraphError);
    expect(() => orderModules([top, middle])).toThrow(
      'the host module "top" needs "base", which is not in the host\'s module list',
    );
  });

  it('refuses a cycle, naming the modules on it', () => {
    const a = { name: 'a', needs: [] as AnyModule[], config: () => undefined, activate: none };
    const b = { name: 'b', needs: [a] as AnyModule[], config: () => undefined, activate: none };
    const c = { name: 'c', needs: [b] as AnyModule[], config: () => undefined, activate: none };
    a.needs.push(c);
    expect(() => orderModules([a, b, c])).toThrow(/dependency cycle: a → c → b → a/);
    expect(() => withNeeds([a])).not.toThrow();
  });

  it('refuses two modules of one name', () => {
    const again = defineModule({ name: 'base', activate: none });
    expect(() => orderModules([base, again])).toThrow('two host modules are named "base"');
  });

  it("orders the host's own modules: everything each needs comes first", () => {
    const order = orderModules(defaultModules());
    for (const [i, m] of order.entries()) {
      for (const n of m.needs as readonly AnyModule[]) {
        expect(order.indexOf(n), `${m.name} after ${n.name}`).toBeLessThan(i);
      }
    }
    expect(order.map((m) => m.name)).toContain('providers');
  });
});

describe('the handshake', () => {
  const facts = {
    cwd: '/w',
    state: '/s',
    server: '/tmp/nvim.sock',
    pid: 7,
    home: '/h',
    config_home: '/h/.config',
    version: '0.11.2',
    env: { A: '1' },
    trust_db: null,
    roots: ['/w', '/lsp'],
    trust: { '.mcp.json': { state: 'trusted', text: '{}' }, '.rune/plugins': { state: 'x' } },
  };

  it('reads the config and the facts, keying trust reads by absolute path', () => {
    const hs = parseHandshake({ config: { chat: {} }, facts });
    expect(hs.config).toEqual({ chat: {} });
    expect(hs.facts).toMatchObject({
      cwd: '/w',
      configHome: '/h/.config',
      roots: ['/w', '/lsp'],
      trustDb: null,
      trust: {
        '/w/.mcp.json': { state: 'trusted', text: '{}' },
        '/w/.rune/plugins': { state: 'untrusted' },
      },
    });
  });

  it('names what is missing when the Lua layer is from another version', () => {
    expect(() => parseHandshake({ config: {} })).toThrow(/different versions: update Rune/);
    expect(() => parseHandshake({ config: {}, facts: { ...facts, cwd: undefined } })).toThrow(
      /lacks cwd/,
    );
  });
});
