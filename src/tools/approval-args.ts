/**
 * An extension of the approval policy (approval.ts) for tool calls made by
 * chat models: besides allow once / always for this tool / deny, the user can
 * answer "always with these arguments", which lets later calls of the same
 * tool with exactly the same arguments run without asking. Rules, stored
 * "always" answers and prompts are the policy's own; this adds one store and
 * one answer on top.
 */
import { readJsonObject, writeJsonObject } from '../core/atomic-file.js';
import type { Logger } from '../core/log.js';
import {
  ApprovalPolicy,
  type ApprovalRequest,
  type ApprovalRule,
  type ApprovalStore,
  type Decision,
} from './approval.js';
import type { CallGate, EditProposal } from './registry.js';

/** The policy's answers plus `args`: always for this tool with these exact arguments. */
export type ArgsDecision = Decision | 'args';

/** What the user is asked, with the arguments themselves (for "always with these arguments"). */
export interface ArgsApprovalRequest extends ApprovalRequest {
  args: Record<string, unknown>;
}

/** The editor side: prompts that never block the editor. */
export interface ArgsApprovalUi {
  ask(req: ArgsApprovalRequest, signal: AbortSignal): Promise<ArgsDecision>;
  review(
    req: ArgsApprovalRequest,
    proposal: EditProposal,
    signal: AbortSignal,
  ): Promise<{ accepted: number[]; decision: Decision }>;
}

/** Arguments as text with sorted keys, so `{a, b}` and `{b, a}` are the same call. */
export function canonicalArgs(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalArgs).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalArgs(x)}`).join(',')}}`;
  }
  return JSON.stringify(v ?? null);
}

/** "Always with these arguments" answers: `{ "<project>": { "<tool>": ["<canonical args>", …] } }`. */
export class ArgsApprovalStore {
  private data: Record<string, Record<string, string[]>> | undefined;

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

  private load(): Record<string, Record<string, string[]>> {
    this.data ??= readJsonObject(this.file, (m) =>
      this.onDamaged(`Saved approvals: ${m}`),
    ) as Record<string, Record<string, string[]>>;
    return this.data;
  }

  allowed(project: string, tool: string, args: Record<string, unknown>): boolean {
    return this.load()[project]?.[tool]?.includes(canonicalArgs(args)) === true;
  }

  async allow(project: string, tool: string, args: Record<string, unknown>): Promise<void> {
    const data = this.load();
    const list = ((data[project] ??= {})[tool] ??= []);
    const key = canonicalArgs(args);
    if (!list.includes(key)) list.push(key);
    await this.save(data);
  }

  async reset(project: string): Promise<void> {
    const data = this.load();
    delete data[project];
    await this.save(data);
  }
}

export interface ArgsApprovalOptions {
  rules: readonly ApprovalRule[];
  store: ApprovalStore;
  argsStore: ArgsApprovalStore;
  project: () => string;
  ui: ArgsApprovalUi;
  logger: Logger;
}

/** The approval policy with "always with these arguments" added; `gate` goes to `ToolRegistry.call`. */
export class ArgsApprovalPolicy {
  private readonly policy: ApprovalPolicy;
  /** The arguments of the call being asked about, found by the call's own signal. */
  private readonly calls = new WeakMap<
    AbortSignal,
    { tool: string; args: Record<string, unknown> }
  >();

  constructor(private readonly opts: ArgsApprovalOptions) {
    const withArgs = (req: ApprovalRequest, signal: AbortSignal): ArgsApprovalRequest => ({
      ...req,
      args: this.calls.get(signal)?.args ?? {},
    });
    this.policy = new ApprovalPolicy({
      rules: opts.rules,
      store: opts.store,
      project: opts.project,
      logger: opts.logger,
      ui: {
        ask: async (req, signal) => {
          const full = withArgs(req, signal);
          const d = await opts.ui.ask(full, signal);
          if (d !== 'args') return d;
          try {
            await opts.argsStore.allow(opts.project(), req.tool, full.args);
          } catch (err) {
            opts.logger.warn('could not save the approval', { tool: req.tool, err });
          }
          return 'once';
        },
        review: (req, proposal, signal) => opts.ui.review(withArgs(req, signal), proposal, signal),
      },
    });
  }

  /** What the rules and stored answers say, before asking anyone. */
  decide(
    tool: Parameters<ApprovalPolicy['decide']>[0],
    args: Record<string, unknown>,
  ): 'allow' | 'deny' | 'ask' {
    const verdict = this.policy.decide(tool, args);
    if (verdict !== 'ask') return verdict;
    return this.opts.argsStore.allowed(this.opts.project(), tool.def.name, args) ? 'allow' : 'ask';
  }

  readonly gate: CallGate = async (tool, args, ctx, run) => {
    if (
      tool.approval === 'ask' &&
      this.policy.decide(tool, args) === 'ask' &&
      this.opts.argsStore.allowed(this.opts.project(), tool.def.name, args)
    ) {
      return run();
    }
    // A signal of its own per call, so the prompt finds this call's arguments.
    const own = new AbortController();
    const forward = () => own.abort(ctx.signal.reason);
    if (ctx.signal.aborted) forward();
    else ctx.signal.addEventListener('abort', forward, { once: true });
    this.calls.set(own.signal, { tool: tool.def.name, args });
    try {
      return await this.policy.gate(tool, args, { ...ctx, signal: own.signal }, (c) =>
        run(c ? { ...c, signal: ctx.signal } : undefined),
      );
    } finally {
      ctx.signal.removeEventListener('abort', forward);
    }
  };
}
