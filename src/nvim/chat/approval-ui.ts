/**
 * Approval prompts for the tool calls of a chat (src/chat/tools.ts), drawn by
 * lua/rune/approval.lua and answered with the `rune.chat.tool_answer` notification.
 */
import type { NeovimClient } from 'neovim';
import { PendingAnswers } from '../../core/pending.js';
import type { Logger } from '../../core/log.js';
import type { Decision } from '../../tools/approval.js';
import type { ArgsApprovalUi, ArgsDecision } from '../../tools/approval-args.js';
import { execLua } from './lua.js';

/** Approval prompts for chat tool calls, drawn by `require("rune.approval").ask/review`. */
export class NvimChatApprovalUi implements ArgsApprovalUi {
  private readonly prompts = new PendingAnswers<{ decision: unknown; accepted: unknown }>();

  constructor(
    private readonly nvim: NeovimClient,
    private readonly logger: Logger,
  ) {}

  /** The user's answer (from `rune.chat.tool_answer`). */
  answer(id: string, decision: unknown, accepted: unknown): void {
    this.prompts.answer(id, { decision, accepted });
  }

  /** Ids of prompts waiting for an answer. */
  pending(): string[] {
    return this.prompts.ids();
  }

  private wait(
    id: string,
    signal: AbortSignal,
    show: () => Promise<unknown>,
  ): Promise<{ decision: unknown; accepted: unknown }> {
    return this.prompts.ask(id, signal, {
      show: () =>
        show().catch((err: unknown) => {
          this.logger.error('could not show the approval prompt', { err });
          throw err;
        }),
      withdraw: () => execLua(this.nvim, 'require("rune.approval").cancel(...)', [id]),
      cancelled: 'The tool call was cancelled while waiting for approval.',
    });
  }

  async ask(req: Parameters<ArgsApprovalUi['ask']>[0], signal: AbortSignal): Promise<ArgsDecision> {
    const id = `c${req.id}`;
    const { args: _args, ...shown } = req;
    const { decision } = await this.wait(id, signal, () =>
      execLua(this.nvim, 'require("rune.approval").ask(...)', [{ ...shown, kind: 'chat', id }]),
    );
    return decision === 'once' || decision === 'always' || decision === 'args' ? decision : 'deny';
  }

  async review(
    req: Parameters<ArgsApprovalUi['review']>[0],
    proposal: Parameters<ArgsApprovalUi['review']>[1],
    signal: AbortSignal,
  ): Promise<{ accepted: number[]; decision: Decision }> {
    const id = `c${req.id}`;
    const { args: _args, ...shown } = req;
    const { decision, accepted } = await this.wait(id, signal, () =>
      execLua(this.nvim, 'require("rune.approval").review(...)', [
        { ...shown, kind: 'chat', id },
        proposal,
      ]),
    );
    const d: Decision = decision === 'once' || decision === 'always' ? decision : 'deny';
    // The hunks the user kept (y/n in the review); only valid indexes count.
    const kept = Array.isArray(accepted)
      ? accepted.filter(
          (i): i is number => Number.isInteger(i) && i >= 0 && i < proposal.hunks.length,
        )
      : [];
    return { accepted: d === 'deny' ? [] : kept, decision: d };
  }
}
