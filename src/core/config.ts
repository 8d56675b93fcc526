/**
 * Reading a section of the user's `setup()` options with its zod schema: the
 * one way each host module turns Lua's table into typed options, and the one
 * place that maps a zod issue to a ConfigError naming the key
 * (`config: completion.debounce_ms: …`).
 *
 * Over msgpack, Lua's nil inside a table arrives as `null` (a `vim.NIL` default
 * or a key set to nil) and an empty Lua table as `[]`. Both mean "not set":
 * nulls are dropped before parsing so the schema's defaults apply, and
 * `luaMap` reads an empty list as an empty map.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { stripNil } from './nil.js';

/** The ConfigError for a failed parse, naming `prefix` + the issue's path. */
export function configError(prefix: string, error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  const path = [prefix, ...(issue?.path.map(String) ?? [])].filter(Boolean).join('.');
  return new ConfigError(path, issue?.message ?? 'is not valid');
}

/**
 * Parses `raw` (a section of the config as Lua sent it) with `schema`; throws
 * a ConfigError naming the bad key under `prefix`, e.g. `mcp.tls.port`.
 */
export function parseSection<S extends z.ZodType>(
  prefix: string,
  schema: S,
  raw: unknown,
): z.output<S> {
  const input = raw == null || (Array.isArray(raw) && raw.length === 0) ? {} : stripNil(raw);
  const r = schema.safeParse(input);
  if (!r.success) throw configError(prefix, r.error);
  return r.data;
}

/** A map (Lua table with string keys) whose empty form may arrive as `[]`. */
export function luaMap<T extends z.ZodType>(value: T, key: z.ZodString = z.string()) {
  return z.preprocess((v) => (Array.isArray(v) && v.length === 0 ? {} : v), z.record(key, value));
}
