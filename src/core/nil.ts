import { z } from 'zod';

/**
 * msgpack's nil arrives as `null` inside tables sent from Lua (a `vim.NIL`
 * default, or a key set to nil): treat it as "not set", so schemas apply
 * their defaults. Returns a copy without null members, recursively.
 */
export function stripNil(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNil);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNil(x);
    return out;
  }
  return v;
}

/**
 * An optional value that Lua may send as msgpack nil (`null`), for request
 * arguments; config sections go through `parseSection`, which drops nulls.
 */
export function nil<T extends z.ZodType>(t: T) {
  return z.preprocess((v) => (v === null ? undefined : v), t.optional());
}
