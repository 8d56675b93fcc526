/**
 * Tool names as each API accepts them. Rune's tools carry names such as `server__fs.read`
 * (hub tools) that some APIs reject: Anthropic requires `^[a-zA-Z0-9_-]{1,128}$`, OpenAI
 * `^[a-zA-Z0-9_-]{1,64}$`, and a request offering one bad name fails as a whole. A name
 * that fits is sent unchanged; any other becomes its allowed characters, cut short, plus a
 * short hash of the whole name, so distinct names stay distinct and the same name maps the
 * same way on every turn. The map of one request turns the model's calls back into Rune's
 * names.
 */
import { createHash } from 'node:crypto';
import type { ChatRequest } from './types.js';

/** The longest tool name per API. */
export const TOOL_NAME_MAX = { anthropic: 128, openai: 64, ollama: 64 } as const;

/** The wire name of `name` for an API that takes at most `max` characters of [a-zA-Z0-9_-]. */
export function wireToolName(name: string, max: number): string {
  if (name.length <= max && /^[a-zA-Z0-9_-]+$/.test(name)) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  const base = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, max - hash.length - 1);
  return `${base}_${hash}`;
}

/** The two-way map for one request: every name it offers or that its history called. */
export class ToolNameMap {
  private readonly back = new Map<string, string>();

  constructor(
    req: ChatRequest,
    private readonly max: number,
  ) {
    for (const t of req.tools ?? []) this.toWire(t.name);
    for (const m of req.messages) {
      if (typeof m.content === 'string') continue;
      for (const p of m.content) if (p.type === 'tool_call') this.toWire(p.name);
    }
  }

  toWire(name: string): string {
    const wire = wireToolName(name, this.max);
    this.back.set(wire, name);
    return wire;
  }

  /** Rune's name for a name the model used (unchanged when the map does not know it). */
  fromWire(wire: string): string {
    return this.back.get(wire) ?? wire;
  }
}
