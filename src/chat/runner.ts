/**
 * The chat tool loop as its own object, apart from any editor: ask the model,
 * run the tools it calls, send the results back, and ask again until it
 * answers without a call (or a step limit). Modelled on the Anthropic SDK's
 * tool runner (`client.beta.messages.toolRunner()`, src/lib/tools/BetaToolRunner.ts):
 * one object per answer, consumed with `for await`; breaking out of the loop
 * (or aborting the signal) stops the request in flight.
 *
 * The events are the provider's own (`text`, `thinking`, `notice`,
 * `tool_call`, and `done` once per request) and the loop's (`fitted`,
 * `tool_run`, `tool_result`, `step`, `step_limit`, and `end` once at the very end). The
 * chat UI (src/nvim/chat/controller.ts) draws them; `rune chat` prints them.
 * Tool calls go through `ChatTools`, which asks for approval where its gate says.
 */
import type { ChatEvent, ChatMessage, ContentPart, Provider, Usage } from '../providers/types.js';
import { fitToContext } from './budget.js';
import type { ChatTools, ToolRun } from './tools.js';

export const DEFAULT_MAX_TOOL_STEPS = 10;
/** Each tool result sent to the model is cut to this many characters. */
const MAX_RESULT_CHARS = 100_000;
/** Tokens kept free for the answer when a request is fitted to a small context window. */
const ANSWER_RESERVE = 1024;
const DENIED_HINT =
  'The user denied this tool call, so it did not run. Do not call it again with the same arguments; continue without it or ask the user.';

function clip(text: string, max: number): string {
  return text.length > max
    ? `${text.slice(0, max)}\n… (cut: ${text.length} characters in all)`
    : text;
}

export interface ChatRunOptions {
  provider: Provider;
  /** The model; the provider's default when absent. */
  model?: string | undefined;
  /** The system prompt; none is sent when absent. */
  system?: string | undefined;
  /** The conversation so far, ending with the question. */
  messages: readonly ChatMessage[];
  /** The tools offered; none when absent. */
  tools?: ChatTools | undefined;
  /** The model's context window in tokens, when known: requests are fitted into it. */
  contextTokens?: number | undefined;
  /** Rounds of tool calls before the loop stops (default DEFAULT_MAX_TOOL_STEPS). */
  maxSteps?: number | undefined;
  signal: AbortSignal;
}

/** The end of a run: the totals over every request it made. */
export interface RunEnd {
  type: 'end';
  /** Tokens of every request, added up; absent when no request reported usage. */
  usage?: Usage;
  /** Time to the first token of the first request, as the provider measured it. */
  ttftMs?: number;
  /** The model that served the last request, as the provider named it. */
  model?: string;
  /** Characters of reasoning the model streamed. */
  thinkingChars: number;
  /**
   * What the loop added after the question (tool calls, results, the final answer),
   * when tools were called; absent when the model answered at once or the step limit
   * stopped it (the turns of the last `step` event stay right then).
   */
  turns?: ChatMessage[];
}

export type RunEvent =
  | ChatEvent
  /** The request was cut to fit the context window. */
  | { type: 'fitted'; droppedMessages: number; droppedTools: number; contextTokens?: number }
  /**
   * A tool call the loop runs now (after the request that asked for it ended); it may wait
   * for the user's approval. A `tool_result` for the same id follows unless the run stops.
   */
  | { type: 'tool_run'; id: string; name: string; input: unknown }
  /** A tool call ran (or was denied); `run` is what the chat shows. */
  | { type: 'tool_result'; id: string; name: string; run: ToolRun }
  /** A round of tool calls is done; `turns` is what the loop added after the question so far. */
  | { type: 'step'; turns: ChatMessage[] }
  /** The model still called tools after `maxSteps` rounds; the loop stopped. */
  | { type: 'step_limit'; maxSteps: number }
  | RunEnd;

/** One answer's tool loop. Iterate it once. */
export class ChatRunner implements AsyncIterable<RunEvent> {
  private readonly messages: ChatMessage[];
  private readonly asked: number;
  private started = false;

  constructor(private readonly opts: ChatRunOptions) {
    this.messages = [...opts.messages];
    this.asked = this.messages.length;
  }

  /** What the loop has added after the question so far. */
  turns(): ChatMessage[] {
    return this.messages.slice(this.asked);
  }

  [Symbol.asyncIterator](): AsyncIterator<RunEvent> {
    if (this.started) throw new Error('A ChatRunner runs once; make a new one for another answer.');
    this.started = true;
    return this.run();
  }

  private async *run(): AsyncGenerator<RunEvent, void, undefined> {
    const { provider, model, system, tools, contextTokens, signal } = this.opts;
    const maxSteps = this.opts.maxSteps ?? DEFAULT_MAX_TOOL_STEPS;
    const specs = tools?.specs() ?? [];
    const messages = this.messages;
    const end: RunEnd = { type: 'end', thinkingChars: 0 };
    for (let step = 0; ; step++) {
      const calls: { id: string; name: string; input: unknown }[] = [];
      let stepText = '';
      const fit = fitToContext(
        { system: system ?? '', messages, tools: specs },
        contextTokens,
        ANSWER_RESERVE,
      );
      if (fit.droppedMessages || fit.droppedTools) {
        yield {
          type: 'fitted',
          droppedMessages: fit.droppedMessages,
          droppedTools: fit.droppedTools,
          ...(contextTokens !== undefined ? { contextTokens } : {}),
        };
      }
      const stream = provider.chat(
        {
          messages: fit.messages,
          ...(system !== undefined ? { system } : {}),
          ...(model ? { model } : {}),
          ...(fit.tools.length ? { tools: fit.tools } : {}),
        },
        { signal },
      );
      for await (const ev of stream) {
        if (ev.type === 'text') {
          stepText += ev.delta;
        } else if (ev.type === 'thinking') {
          end.thinkingChars += ev.delta.length;
        } else if (ev.type === 'tool_call') {
          calls.push({ id: ev.id, name: ev.name, input: ev.input });
        } else if (ev.type === 'done') {
          end.usage = end.usage
            ? {
                inputTokens: end.usage.inputTokens + ev.usage.inputTokens,
                outputTokens: end.usage.outputTokens + ev.usage.outputTokens,
              }
            : ev.usage;
          end.ttftMs ??= ev.ttftMs;
          end.model = ev.model;
        }
        yield ev;
        if (signal.aborted) break;
      }
      if (signal.aborted) throw signal.reason;
      if (calls.length === 0 || !tools) {
        if (step > 0) end.turns = [...this.turns(), { role: 'assistant', content: stepText }];
        break;
      }
      if (step >= maxSteps) {
        yield { type: 'step_limit', maxSteps };
        break;
      }
      messages.push({
        role: 'assistant',
        content: [
          ...(stepText ? [{ type: 'text' as const, text: stepText }] : []),
          ...calls.map((c) => ({ type: 'tool_call' as const, ...c })),
        ],
      });
      const results: ContentPart[] = [];
      for (const c of calls) {
        yield { type: 'tool_run', ...c };
        const run = await tools.call(c.name, c.input, signal);
        yield { type: 'tool_result', id: c.id, name: c.name, run };
        results.push({
          type: 'tool_result',
          id: c.id,
          content: run.denied ? `${run.text} ${DENIED_HINT}` : clip(run.text, MAX_RESULT_CHARS),
          ...(run.isError ? { isError: true } : {}),
        });
      }
      messages.push({ role: 'tool', content: results });
      yield { type: 'step', turns: this.turns() };
    }
    if (signal.aborted) throw signal.reason;
    yield end;
  }
}
