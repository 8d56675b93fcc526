/** The hub's tools in the host's tool registry, as `server__tool`. */
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import type { Logger } from '../../core/log.js';
import type { HubTool, McpHub } from '../../mcp/hub/clients.js';
import type { ToolRegistry, ToolShape } from '../../tools/registry.js';
import type { HubConfig } from './config.js';

/**
 * A tool's JSON Schema as a zod shape for the registry. A schema zod cannot
 * express becomes a permissive shape: the server still validates its input.
 */
export function shapeFromJsonSchema(schema: Record<string, unknown>): z.ZodObject<ToolShape> {
  try {
    const s = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    if (s instanceof z.ZodObject) {
      z.toJSONSchema(s, { io: 'input' });
      return s as z.ZodObject<ToolShape>;
    }
  } catch {
    // fall through to the permissive shape
  }
  return z.looseObject({});
}

/** Keeps the registry's `server__tool` entries equal to the hub's connected tools. */
export class ToolSync {
  private readonly registered = new Map<string, { key: string; d: Disposable }>();

  constructor(
    private readonly registry: ToolRegistry,
    private readonly hub: McpHub,
    private readonly cfg: HubConfig,
    private readonly logger: Logger,
  ) {}

  sync(): void {
    const tools = new Map(this.hub.tools().map((t) => [t.qualifiedName, t]));
    for (const [name, r] of this.registered) {
      const t = tools.get(name);
      if (!t || keyOf(t) !== r.key) {
        r.d.dispose();
        this.registered.delete(name);
      }
    }
    for (const t of tools.values()) {
      if (this.registered.has(t.qualifiedName)) continue;
      try {
        this.registered.set(t.qualifiedName, { key: keyOf(t), d: this.register(t) });
      } catch (err) {
        this.logger.warn('could not register a hub tool', { tool: t.qualifiedName, err });
      }
    }
  }

  private register(t: HubTool): Disposable {
    const hub = this.hub;
    const timeoutMs = this.cfg.hub.tool_timeout_ms;
    return this.registry.register({
      name: t.qualifiedName,
      ...(t.annotations?.title ? { title: `${t.server}: ${t.annotations.title}` } : {}),
      description: t.description,
      inputSchema: shapeFromJsonSchema(t.inputSchema),
      ...(t.annotations ? { annotations: t.annotations } : {}),
      // A remote server's read-only hint is not a reason to skip asking; its autoApprove is.
      approval: t.autoApprove ? 'auto' : 'ask',
      origin: 'hub',
      handler: async (args, ctx) => {
        // A signal per call: the SDK leaves its abort listener on the signal it is given,
        // and one chat answer passes the same signal to every call it makes.
        const own = new AbortController();
        const forward = () => own.abort(ctx.signal.reason);
        if (ctx.signal.aborted) forward();
        else ctx.signal.addEventListener('abort', forward, { once: true });
        try {
          return await hub.callTool(t.qualifiedName, args as Record<string, unknown>, {
            signal: own.signal,
            onprogress: (p) => ctx.progress(p),
            timeoutMs,
          });
        } finally {
          ctx.signal.removeEventListener('abort', forward);
        }
      },
    });
  }

  dispose(): void {
    for (const r of this.registered.values()) r.d.dispose();
    this.registered.clear();
  }
}

function keyOf(t: HubTool): string {
  return JSON.stringify([t.description, t.inputSchema, t.autoApprove, t.annotations]);
}
