/**
 * Tools in chat: the tools of the host's registries (Rune's editor tools and
 * the MCP hub's `server__tool`) offered to the model, and each call the model
 * makes passed through a `CallGate` (the approval policy).
 */
import { AbortError } from '../core/errors.js';
import type { ToolSpec } from '../providers/types.js';
import type {
  CallGate,
  CallToolResult,
  RegisteredTool,
  ToolContext,
  ToolRegistry,
} from '../tools/registry.js';

/** What a tool call gave, as the chat shows it and the model receives it. */
export interface ToolRun {
  text: string;
  isError: boolean;
  /** The user (or a rule) refused the call; the tool did not run. */
  denied: boolean;
}

/** The tools a chat can use. */
export interface ChatTools {
  /** The tools to offer the model now. */
  specs(): ToolSpec[];
  /** Runs one call through approval; never throws for a failing tool (only when aborted). */
  call(name: string, input: unknown, signal: AbortSignal): Promise<ToolRun>;
}

/** Text of an MCP tool result, for the model and the chat. */
export function resultText(r: CallToolResult): string {
  const parts = r.content.map((c) => {
    if (c.type === 'text') return c.text;
    if (c.type === 'resource') {
      const res = c.resource as { uri: string; text?: string };
      return res.text ?? `[resource ${res.uri}]`;
    }
    if (c.type === 'resource_link') return `[resource ${c.uri}]`;
    return `[${c.type}]`;
  });
  if (parts.length === 0 && r.structuredContent) return JSON.stringify(r.structuredContent);
  return parts.join('\n');
}

/** A tool's JSON Schema as providers take it (without the `$schema` marker). */
function specOf(t: RegisteredTool): ToolSpec {
  const { $schema: _ignored, ...schema } = t.jsonSchema;
  return { name: t.def.name, description: t.def.description, inputSchema: schema };
}

export class RegistryChatTools implements ChatTools {
  constructor(
    /** The registries to draw from, first wins on a name clash. */
    private readonly registries: () => ToolRegistry[],
    private readonly gate: CallGate,
  ) {}

  private all(): Map<string, { reg: ToolRegistry; tool: RegisteredTool }> {
    const out = new Map<string, { reg: ToolRegistry; tool: RegisteredTool }>();
    for (const reg of new Set(this.registries())) {
      for (const tool of reg.list())
        if (!out.has(tool.def.name)) out.set(tool.def.name, { reg, tool });
    }
    return out;
  }

  specs(): ToolSpec[] {
    return [...this.all().values()].map((t) => specOf(t.tool));
  }

  async call(name: string, input: unknown, signal: AbortSignal): Promise<ToolRun> {
    const found = this.all().get(name);
    if (!found) {
      return {
        text: `There is no tool named "${name}". Use one of the tools offered.`,
        isError: true,
        denied: false,
      };
    }
    const ctx: ToolContext = {
      signal,
      progress: () => undefined,
      caller: { client: 'Rune chat' },
      review: async (p) => ({ accepted: p.hunks.map((_, i) => i) }),
    };
    const r = await found.reg.call(name, input, ctx, this.gate);
    if (signal.aborted) throw new AbortError();
    const code = (r._meta as Record<string, unknown> | undefined)?.['rune/code'];
    const denied = r.isError === true && code === 'denied';
    return { text: resultText(r), isError: r.isError === true, denied };
  }
}
