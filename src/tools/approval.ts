/**
 * The approval policy: decides whether a tool call runs, is refused, or needs
 * the user's word. Read-only tools run. Other tools follow, in order: the
 * user's rules (on the tool name and its arguments), the "always for this
 * project" answers given before (persisted atomically), and otherwise a
 * prompt in the editor — allow once, always for this project, or deny.
 * Edits are shown as a diff the user accepts or rejects hunk by hunk.
 *
 * Shared by the MCP server and, later, the MCP hub (tools models call).
 */
import { readJsonObject, writeJsonObject } from '../core/atomic-file.js';
import { AbortError, DeniedError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type {
  CallGate,
  CallerInfo,
  EditProposal,
  RegisteredTool,
  ReviewAnswer,
  ToolContext,
} from './registry.js';

export type Decision = 'once' | 'always' | 'deny';

/** A rule from the user's config: the first rule matching a call decides. */
export interface ApprovalRule {
  /** Tool name; `*` matches any run of characters. */
  tool: string;
  /** Argument name → glob the argument (as text) must match, e.g. `{ path = 'src/*' }`. */
  args?: Record<string, string>;
  action: 'allow' | 'deny' | 'ask';
}

/** What the user is asked. */
export interface ApprovalRequest {
  id: string;
  tool: string;
  caller: CallerInfo;
  /** What the call acts on, resolved (an absolute path), when the tool says. */
  target?: string;
  /** One line per argument, shortened. */
  summary: string[];
  destructive: boolean;
}

/** The editor side of approval: prompts that never block the editor. */
export interface ApprovalUi {
  ask(req: ApprovalRequest, signal: AbortSignal): Promise<Decision>;
  /** Shows the hunks; resolves with the accepted ones and whether to stop asking. */
  review(
    req: ApprovalRequest,
    proposal: EditProposal,
    signal: AbortSignal,
  ): Promise<{ accepted: number[]; decision: Decision }>;
}

/** "Always for this project" answers, in one JSON file: `{ "<project>": ["tool", …] }`. */
export class ApprovalStore {
  private data: Record<string, string[]> | undefined;

  /**
   * `onDamaged` hears about a file that does not parse (it is moved aside, never
   * deleted or overwritten, and the answers start empty) or cannot be written.
   */
  constructor(
    readonly file: string,
    private readonly onDamaged: (message: string) => void = () => undefined,
  ) {}

  private unsaved = false;

  /** Writes the answers; a failure is told once (they still hold in memory for the session). */
  private async save(data: unknown): Promise<void> {
    await writeJsonObject(this.file, data, (m) => {
      if (this.unsaved) return;
      this.unsaved = true;
      this.onDamaged(`Saved approvals: ${m} Your answers hold until Rune stops.`);
    });
  }

  /** Reads the file now (at start), so a damaged one is reported then. */
  open(): void {
    this.load();
  }

  private load(): Record<string, string[]> {
    this.data ??= readJsonObject(this.file, (m) =>
      this.onDamaged(`Saved approvals: ${m}`),
    ) as Record<string, string[]>;
    return this.data;
  }

  allowed(project: string, tool: string): boolean {
    return this.load()[project]?.includes(tool) === true;
  }

  async allow(project: string, tool: string): Promise<void> {
    const data = this.load();
    const list = (data[project] ??= []);
    if (!list.includes(tool)) list.push(tool);
    await this.save(data);
  }

  /** Forgets every answer for `project`. */
  async reset(project: string): Promise<void> {
    const data = this.load();
    delete data[project];
    await this.save(data);
  }
}

export interface ApprovalOptions {
  rules: readonly ApprovalRule[];
  store: ApprovalStore;
  /** The project answers are remembered for (the workspace root). */
  project: () => string;
  ui: ApprovalUi;
  logger: Logger;
}

let counter = 0;

export class ApprovalPolicy {
  constructor(private readonly opts: ApprovalOptions) {}

  /** What the rules and stored answers say, before asking anyone. */
  decide(tool: RegisteredTool, args: Record<string, unknown>): 'allow' | 'deny' | 'ask' {
    if (tool.approval === 'auto') return 'allow';
    for (const rule of this.opts.rules) {
      if (!glob(rule.tool).test(tool.def.name)) continue;
      const argsMatch = Object.entries(rule.args ?? {}).every(([k, pattern]) =>
        glob(pattern).test(argText(args[k])),
      );
      if (argsMatch) return rule.action;
    }
    if (this.opts.store.allowed(this.opts.project(), tool.def.name)) return 'allow';
    return 'ask';
  }

  readonly gate: CallGate = async (tool, args, ctx, run) => {
    const verdict = this.decide(tool, args);
    if (verdict === 'deny') {
      throw new DeniedError(`${tool.def.name} is denied by your approval rules (mcp.approval).`);
    }
    const req = (): ApprovalRequest => ({
      id: `a${++counter}`,
      tool: tool.def.name,
      caller: ctx.caller,
      ...(ctx.target !== undefined ? { target: ctx.target } : {}),
      summary: summarize(args),
      destructive: tool.def.annotations?.destructiveHint === true,
    });
    if (tool.approval === 'review') {
      const review = async (proposal: EditProposal): Promise<ReviewAnswer> => {
        const all = proposal.hunks.map((_, i) => i);
        if (verdict === 'allow' || proposal.hunks.length === 0) return { accepted: all };
        const answer = await this.opts.ui.review(req(), proposal, ctx.signal);
        if (answer.decision === 'deny') {
          throw new DeniedError(`The edit to ${proposal.target} was rejected in the editor.`);
        }
        if (answer.decision === 'always') {
          await this.remember(tool.def.name);
          return { accepted: all, always: true };
        }
        return { accepted: answer.accepted };
      };
      return run({ ...ctx, review });
    }
    if (verdict === 'ask') {
      const decision = await this.opts.ui.ask(req(), ctx.signal);
      if (decision === 'deny') {
        throw new DeniedError(`${tool.def.name} was denied in the editor.`);
      }
      if (decision === 'always') await this.remember(tool.def.name);
    }
    if (ctx.signal.aborted) throw new AbortError();
    return run();
  };

  private async remember(tool: string): Promise<void> {
    try {
      await this.opts.store.allow(this.opts.project(), tool);
    } catch (err) {
      this.opts.logger.warn('could not save the approval', { tool, err });
    }
  }
}

const globs = new Map<string, RegExp>();

/**
 * A glob with `*` (any run) and `?` (one character), anchored. Compiled once per pattern:
 * the rules are matched on every call of a tool that needs approval.
 */
export function glob(pattern: string): RegExp {
  let compiled = globs.get(pattern);
  if (!compiled) {
    compiled = compile(pattern);
    globs.set(pattern, compiled);
  }
  return compiled;
}

function compile(pattern: string): RegExp {
  const re = pattern
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${re}$`, 's');
}

function argText(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const SECRET = /(token|secret|password|api[-_]?key|authorization)/i;

/** Arguments as short lines for prompts and the audit log; secrets masked. */
export function summarize(args: Record<string, unknown>, width = 100): string[] {
  return Object.entries(args).map(([k, v]) => {
    if (SECRET.test(k)) return `${k}: [redacted]`;
    let text = argText(v).replace(/\s+/g, ' ');
    if (text.length > width) text = `${text.slice(0, width - 1)}… (${argText(v).length} chars)`;
    return `${k}: ${text}`;
  });
}

export type { ToolContext };
