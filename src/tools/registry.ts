/**
 * The tool registry: every tool Rune offers (editor tools, AI tools, fixture
 * tools in tests, later the MCP hub's `server__tool` and third-party plugins)
 * is registered here in the MCP SDK's `registerTool` shape. The MCP server
 * publishes what the registry holds and follows its changes.
 */
import { z } from 'zod';
import type {
  CallToolResult,
  ContentBlock,
  CreateMessageRequest,
  CreateMessageResult,
  ElicitRequest,
  ElicitResult,
  LoggingLevel,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import type { Disposable } from '../core/disposable.js';
import { toDisposable } from '../core/disposable.js';
import { BadRequestError, NotFoundError, RuneError, toRuneError } from '../core/errors.js';
import { metrics, METRICS } from '../core/metrics.js';

export type { CallToolResult, ContentBlock, ToolAnnotations };

/** A zod object shape, as `McpServer.registerTool` takes it. */
export type ToolShape = Record<string, z.ZodType>;

export type ToolArgs<S extends ToolShape> = z.infer<z.ZodObject<S>>;

/** One progress report; MCP sends it as `notifications/progress` when the client asked for progress. */
export interface Progress {
  progress: number;
  total?: number;
  message?: string;
}

/** Who is calling, for approval prompts and the audit log. */
export interface CallerInfo {
  /** The client's name and version from `initialize`, e.g. `claude-code 1.0`. */
  client: string;
  /** The MCP session, when there is one. */
  session?: string;
}

/** What an edit review answers: which hunks the user accepted (all, some, or none). */
export interface ReviewAnswer {
  accepted: number[];
  /** The user chose "always for this project": later edits by this tool skip review. */
  always?: boolean;
}

/** One hunk of a proposed change, in lines of the original text (0-based, end exclusive). */
export interface Hunk {
  start: number;
  oldLines: string[];
  newLines: string[];
}

/** A proposed edit the user reviews hunk by hunk before anything changes. */
export interface EditProposal {
  /** What is edited, shown to the user (a path or a buffer name). */
  target: string;
  hunks: Hunk[];
}

/** What a handler gets besides its arguments. */
export interface ToolContext {
  /** Fires when the client cancels the call or the session ends. */
  signal: AbortSignal;
  /** Reports progress; a no-op when the client did not ask for it. */
  progress(p: Progress): void;
  caller: CallerInfo;
  /** What the call acts on, resolved (an absolute path), from the tool's `prepare`. */
  target?: string;
  /**
   * Asks the user to review an edit (tools with `approval: 'review'`). Resolves
   * with the accepted hunks; `[]` when the user rejected every hunk.
   */
  review(proposal: EditProposal): Promise<ReviewAnswer>;
  /** Sends a log message to the client (MCP logging); a no-op where there is no client. */
  log?(level: LoggingLevel, data: unknown): void;
  /**
   * Closes this call's SSE stream; the client reconnects and receives the
   * result when it is ready (polling for long calls). Absent where unsupported.
   */
  closeStream?(): void;
  /** Asks the client's model for a completion (MCP sampling), where the client offers it. */
  sample?(params: CreateMessageRequest['params']): Promise<CreateMessageResult>;
  /** Asks the client's user for input (MCP elicitation), where the client offers it. */
  elicit?(params: ElicitRequest['params']): Promise<ElicitResult>;
}

/**
 * How calls to a tool are approved. `auto` runs it; `ask` asks the user before
 * the handler runs; `review` lets the handler show the user its edit as a
 * diff through `ctx.review`. The default is `auto` for read-only tools and
 * `ask` for the rest.
 */
export type ApprovalMode = 'auto' | 'ask' | 'review';

/** A tool, in the shape of the MCP SDK's `registerTool(name, config, handler)`. */
export interface ToolDefinition<S extends ToolShape = ToolShape> {
  name: string;
  title?: string;
  description: string;
  /** A zod shape, or a zod object (e.g. `z.strictObject(…)` to refuse unknown arguments). */
  inputSchema: S | z.ZodObject<S, z.core.$ZodObjectConfig>;
  annotations?: ToolAnnotations;
  approval?: ApprovalMode;
  /**
   * Where the tool comes from: Rune's own (default), `hub` (another MCP
   * server's, through the hub), or `plugin:<id>`. Rune's MCP server publishes
   * hub tools to agents only when `mcp.tools.reexport_hub` is on.
   */
  origin?: string;
  /**
   * Checks a call before anyone is asked about it (throw to refuse it) and
   * returns what it acts on, resolved (an absolute path), for the approval
   * prompt. A call that would be refused anyway never reaches the user.
   */
  prepare?(args: ToolArgs<S>): Promise<string | undefined> | string | undefined;
  /** A string is sent as one text block; an object is sent as the MCP result it is. */
  handler(args: ToolArgs<S>, ctx: ToolContext): Promise<ToolOutput> | ToolOutput;
}

export type ToolOutput = string | CallToolResult;

/** A registered tool as the registry keeps it. */
export interface RegisteredTool {
  readonly def: ToolDefinition;
  readonly schema: z.ZodObject<ToolShape, z.core.$ZodObjectConfig>;
  /**
   * The input schema as JSON Schema (2020-12), computed on first use (the first tools/list or
   * chat request offering tools, not the host's start) and then shared by every session.
   */
  readonly jsonSchema: Record<string, unknown>;
  readonly approval: ApprovalMode;
  readonly readOnly: boolean;
}

export type RegistryChange = { type: 'added' | 'removed'; tool: RegisteredTool };

/** Runs before a handler (approval, audit); throws DeniedError to refuse the call. */
export type CallGate = (
  tool: RegisteredTool,
  args: Record<string, unknown>,
  ctx: ToolContext,
  run: (ctx?: ToolContext) => Promise<CallToolResult>,
) => Promise<CallToolResult>;

export class ToolRegistry {
  private readonly tools = new Map<string, RegisteredTool>();
  private readonly listeners = new Set<(c: RegistryChange) => void>();

  /**
   * Adds a tool. Its name must be unique and match the MCP tool-name rule
   * (letters, digits, `_`, `-`, `.`, at most 128). Disposing the result removes it.
   */
  register<S extends ToolShape>(def: ToolDefinition<S>): Disposable {
    if (!/^[A-Za-z0-9._-]{1,128}$/.test(def.name)) {
      throw new BadRequestError(
        `Tool name "${def.name}" is invalid: use letters, digits, "_", "-" or "." (at most 128).`,
      );
    }
    if (this.tools.has(def.name)) {
      throw new BadRequestError(`A tool named "${def.name}" is already registered.`);
    }
    const readOnly = def.annotations?.readOnlyHint === true;
    // Both schemas are built on first use (a call, a listing), not at the host's start.
    let schema: z.ZodObject<ToolShape, z.core.$ZodObjectConfig> | undefined;
    let jsonSchema: Record<string, unknown> | undefined;
    const tool: RegisteredTool = {
      def: def as unknown as ToolDefinition,
      get schema() {
        return (schema ??=
          def.inputSchema instanceof z.ZodObject
            ? def.inputSchema
            : z.object(def.inputSchema as S));
      },
      get jsonSchema() {
        return (jsonSchema ??= toJsonSchema(tool.schema, def.name));
      },
      approval: def.approval ?? (readOnly ? 'auto' : 'ask'),
      readOnly,
    };
    this.tools.set(def.name, tool);
    this.emit({ type: 'added', tool });
    return toDisposable(() => {
      if (this.tools.get(def.name) === tool) {
        this.tools.delete(def.name);
        this.emit({ type: 'removed', tool });
      }
    });
  }

  get(name: string): RegisteredTool | undefined {
    return this.tools.get(name);
  }

  list(): RegisteredTool[] {
    return [...this.tools.values()];
  }

  /** Calls `fn` on every addition and removal. */
  onDidChange(fn: (c: RegistryChange) => void): Disposable {
    this.listeners.add(fn);
    return toDisposable(() => this.listeners.delete(fn));
  }

  /**
   * Validates `args`, passes the call through `gate` (when given), and runs
   * the handler. A thrown error becomes an `isError` result: a failing tool
   * never ends the caller's session. Each call of a registered tool is
   * recorded in the metrics (duration, outcome, error type).
   */
  async call(
    name: string,
    args: unknown,
    ctx: ToolContext,
    gate?: CallGate,
  ): Promise<CallToolResult> {
    const tool = this.tools.get(name);
    if (!tool) {
      // Not counted per name: names a client made up would grow the metric without bound.
      metrics.counter(METRICS.errors).inc({ type: 'not_found', area: 'tool' });
      return errorResult(new NotFoundError(`No tool named "${name}".`));
    }
    const t0 = performance.now();
    const result = await this.callTool(tool, args, ctx, gate);
    metrics.histogram(METRICS.toolDuration).observe(performance.now() - t0, { tool: name });
    const code = result.isError ? codeOf(result) : undefined;
    // A call the user refused or the caller cancelled is not a failure of the tool.
    const outcome = !result.isError
      ? 'ok'
      : code === 'denied'
        ? 'denied'
        : code === 'aborted' || ctx.signal.aborted
          ? 'aborted'
          : 'error';
    metrics.counter(METRICS.toolCalls).inc({ tool: name, outcome });
    if (outcome === 'error') {
      metrics.counter(METRICS.errors).inc({ type: code ?? 'tool_error', area: 'tool' });
    }
    return result;
  }

  private async callTool(
    tool: RegisteredTool,
    args: unknown,
    ctx: ToolContext,
    gate: CallGate | undefined,
  ): Promise<CallToolResult> {
    const name = tool.def.name;
    const parsed = tool.schema.safeParse(args ?? {});
    if (!parsed.success) {
      return errorResult(
        new BadRequestError(`Invalid arguments for ${name}: ${z.prettifyError(parsed.error)}`),
      );
    }
    const input = parsed.data as Record<string, unknown>;
    if (tool.def.prepare) {
      try {
        const target = await tool.def.prepare(input);
        if (target !== undefined) ctx = { ...ctx, target };
      } catch (err) {
        return errorResult(err);
      }
    }
    const run = async (c: ToolContext = ctx): Promise<CallToolResult> => {
      try {
        return toResult(await tool.def.handler(input, c));
      } catch (err) {
        return errorResult(err);
      }
    };
    if (!gate) return run();
    try {
      return await gate(tool, input, ctx, run);
    } catch (err) {
      return errorResult(err);
    }
  }

  private emit(c: RegistryChange): void {
    for (const fn of [...this.listeners]) {
      try {
        fn(c);
      } catch {
        // A listener's failure must not break registration.
      }
    }
  }
}

function toJsonSchema(schema: z.ZodType, name: string): Record<string, unknown> {
  try {
    return z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input' }) as Record<
      string,
      unknown
    >;
  } catch (err) {
    throw new BadRequestError(
      `The input schema of tool "${name}" cannot be expressed as JSON Schema: ${(err as Error).message}`,
    );
  }
}

export function toResult(out: ToolOutput): CallToolResult {
  if (typeof out === 'string') return { content: [{ type: 'text', text: out }] };
  return out;
}

/** The RuneError code an `isError` result carries (see `errorResult`), if any. */
function codeOf(result: CallToolResult): string | undefined {
  const code = result._meta?.['rune/code'];
  return typeof code === 'string' ? code : undefined;
}

/** The `isError` result for a thrown error; the message says what happened and what to do. */
export function errorResult(err: unknown): CallToolResult {
  const e = toRuneError(err);
  const text = e instanceof RuneError && e.code !== 'internal' ? e.message : `Error: ${e.message}`;
  return { isError: true, content: [{ type: 'text', text }], _meta: { 'rune/code': e.code } };
}

/** A JSON value as one text block (pretty enough to read, compact enough to send). */
export function jsonResult(value: unknown): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value, null, 1) }],
    structuredContent:
      value !== null && typeof value === 'object' && !Array.isArray(value)
        ? (value as Record<string, unknown>)
        : { value },
  };
}
