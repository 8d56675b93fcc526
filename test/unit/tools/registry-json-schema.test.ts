/** When the tool registry computes a tool's JSON Schema: on first use, once, not at registration. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ToolRegistry } from '../../../src/tools/registry.js';

describe('ToolRegistry JSON Schema', () => {
  it('registers without computing the JSON Schema; computes it on first use, once', () => {
    const reg = new ToolRegistry();
    // A Date has no JSON Schema: computing it at registration would throw here.
    reg.register({
      name: 'when',
      description: 'takes a date',
      inputSchema: { at: z.date() },
      handler: () => 'ok',
    });
    const tool = reg.get('when')!;
    expect(() => tool.jsonSchema).toThrow(
      'The input schema of tool "when" cannot be expressed as JSON Schema',
    );

    reg.register({
      name: 'echo',
      description: 'echoes',
      inputSchema: { text: z.string() },
      handler: ({ text }) => text,
    });
    const echo = reg.get('echo')!;
    const first = echo.jsonSchema;
    expect(first).toMatchObject({
      type: 'object',
      properties: { text: { type: 'string' } },
      required: ['text'],
    });
    expect(echo.jsonSchema).toBe(first);
  });
});
