import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { luaMap, parseSection } from '../../../src/core/config.js';
import { ConfigError } from '../../../src/core/errors.js';
import { nil } from '../../../src/core/nil.js';

const section = z.object({
  port: z.number().int().min(0).default(0),
  tls: z.object({ host: z.string().default('127.0.0.1') }).prefault({}),
  headers: luaMap(z.string()).default({}),
});

describe('parseSection', () => {
  it("applies the schema's defaults where Lua sent nil (null) or nothing", () => {
    expect(parseSection('mcp', section, { port: null, tls: { host: null } })).toEqual({
      port: 0,
      tls: { host: '127.0.0.1' },
      headers: {},
    });
    expect(parseSection('mcp', section, null)).toEqual(parseSection('mcp', section, []));
  });

  it('reads an empty Lua table sent as [] as an empty map', () => {
    expect(parseSection('mcp', section, { headers: [] }).headers).toEqual({});
  });

  it('throws a ConfigError naming the bad key under the section', () => {
    const err = (() => {
      try {
        parseSection('mcp', section, { tls: { host: 3 } });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).path).toBe('mcp.tls.host');
    expect((err as Error).message).toMatch(/^config: mcp\.tls\.host: /);
  });
});

describe('nil', () => {
  it('reads msgpack nil as a missing optional value', () => {
    const args = z.object({ id: nil(z.number()) });
    expect(args.parse({ id: null })).toEqual({ id: undefined });
    expect(args.parse({})).toEqual({});
    expect(() => args.parse({ id: 'x' })).toThrow();
  });
});
