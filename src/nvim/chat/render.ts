/**
 * How a chat looks in its buffer: plain markdown with role headers, so
 * treesitter and markdown renderers highlight it. Pure functions; the
 * controller decides when to write what.
 */
import {
  AuthError,
  BadRequestError,
  ConfigError,
  NotFoundError,
  ProviderUnavailableError,
  RateLimitError,
  TimeoutError,
  toRuneError,
} from '../../core/errors.js';
import type { Usage } from '../../providers/types.js';
import { NO_MODEL } from '../../providers/detect.js';
import type { ContextItem } from './context.js';
import type { StoredChat, StoredMessage } from './history.js';

export const USER_HEADER = '## You';
export const ASSISTANT_HEADER = '## Rune';
/** The first line of the folded block that shows what context was sent. */
export const CONTEXT_OPEN = '<details><summary>context:';
export const CONTEXT_CLOSE = '</details>';

// The buffer is built by appending text; each piece below starts where the
// previous one ended (at the end of a line) and leaves the cursor on a line
// of its own where the next piece, or the user, continues.

/** Text that starts an answer (naming the project instructions it followed); the answer streams in right after it. */
export function answerHeader(
  provider: string,
  model: string | undefined,
  instructions?: string,
  why?: string,
): string {
  const with_ = [instructions, why]
    .filter(Boolean)
    .map((s) => ` · ${s}`)
    .join('');
  return `\n\n${ASSISTANT_HEADER} (${model ? `${provider}/${model}` : provider})${with_}\n\n`;
}

/** Text that opens the next question after an answer. */
export function nextPrompt(): string {
  return `\n\n${USER_HEADER}\n`;
}

/** A folded block listing the context items sent with a question. */
export function contextBlock(items: readonly ContextItem[]): string {
  if (items.length === 0) return '';
  const names = items.map((i) => (i.cut ? `${i.label} (cut)` : i.label));
  const out = ['', '', `${CONTEXT_OPEN} ${names.join(', ')}</summary>`];
  for (const item of items) {
    const fence = fenceFor(item.text);
    out.push('', `${item.label}:`, '', `${fence}${item.language ?? ''}`);
    out.push(item.text.replace(/\n$/, ''));
    out.push(fence);
  }
  out.push('', CONTEXT_CLOSE);
  return out.join('\n');
}

/** A fence longer than any run of backticks inside `text`. */
function fenceFor(text: string): string {
  let longest = 2;
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  return '`'.repeat(longest + 1);
}

export interface AnswerStats {
  provider: string;
  model: string | undefined;
  usage?: Usage | undefined;
  ttftMs?: number | undefined;
  elapsedMs?: number | undefined;
  thinkingChars?: number | undefined;
}

/** One line after a finished answer: tokens in and out, time to first token. */
export function statsLine(s: AnswerStats): string {
  const parts: string[] = [];
  if (s.usage) parts.push(`${s.usage.inputTokens} in · ${s.usage.outputTokens} out`);
  if (s.thinkingChars) parts.push(`thought ${s.thinkingChars} chars`);
  if (s.ttftMs !== undefined) parts.push(`first token ${Math.round(s.ttftMs)} ms`);
  if (s.elapsedMs !== undefined) parts.push(`${(s.elapsedMs / 1000).toFixed(1)} s`);
  return parts.length ? `_${parts.join(' · ')}_` : '';
}

export const CANCELLED_LINE = '_(cancelled)_';
export const INTERRUPTED_LINE = '_(interrupted: Rune stopped during this answer)_';

/**
 * One short line naming what went wrong and what to do; the details (and any
 * stack) belong in the log.
 */
export function errorLine(err: unknown, provider?: string): string {
  const e = toRuneError(err);
  const who = provider ?? 'the provider';
  let text: string;
  const guide = e instanceof ConfigError ? e.message.indexOf(NO_MODEL) : -1;
  if (guide >= 0) {
    // Guidance when nothing was configured or found: every line of it, as one callout.
    text = e.message.slice(guide).split('\n').join('\n> ');
  } else if (
    e instanceof ConfigError &&
    e.path === 'providers' &&
    /no provider is configured/.test(e.message)
  ) {
    text =
      'No chat provider is configured: add one under `providers` in setup() (:help rune-providers).';
  } else if (e instanceof ConfigError) {
    text = /setup\(\)/.test(e.message)
      ? firstLine(e.message)
      : `${firstLine(e.message)}; fix it in setup().`;
  } else if (e instanceof AuthError && signInEnded(err)) {
    text = signInEnded(err)!;
  } else if (e instanceof AuthError) {
    text = `${who} refused the credentials: check ${provider ? `providers.${provider}.api_key` : 'its api_key'} in setup() (:help rune-providers).`;
  } else if (e instanceof RateLimitError) {
    const wait = e.retryAfterMs ? ` in ${Math.ceil(e.retryAfterMs / 1000)} s` : ' later';
    text = `${who} is rate limiting: submit again${wait}, or switch model with :RuneChatModel.`;
  } else if (e instanceof ProviderUnavailableError) {
    const where = e.url ? ` at ${e.url}` : '';
    text =
      e.status !== undefined
        ? `${who}${where} answered ${e.status}: retry later, or switch with :RuneChatModel.`
        : `Cannot reach ${who}${where}: is it running? Check its url in setup().`;
  } else if (e instanceof TimeoutError) {
    text = `${who} timed out (${e.phase.replace('_', ' ')}): submit again, or switch with :RuneChatModel.`;
  } else if (e instanceof BadRequestError) {
    text = firstLine(e.message);
  } else if (e instanceof NotFoundError) {
    text = `${firstLine(e.message)}`;
  } else {
    text = `The answer failed: ${firstLine(e.message)} (details: :RuneLog).`;
  }
  return `> [!ERROR] ${text}`;
}

function firstLine(s: string): string {
  const line = s.split('\n', 1)[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** The whole buffer for a stored chat (used when a chat is reopened). */
export function renderChat(chat: StoredChat): string[] {
  let text = '';
  for (const m of chat.messages) {
    if (m.role === 'user') {
      text += `${text ? '\n\n' : ''}${USER_HEADER}\n${m.content}${contextBlock(m.context ?? [])}`;
    } else {
      text += answerHeader(m.provider ?? '?', m.model) + m.content + answerTrailer(m);
    }
  }
  text += text ? nextPrompt() : `${USER_HEADER}\n`;
  return text.split('\n');
}

/** What follows a finished, cancelled or failed answer (before the next prompt). */
export function answerTrailer(m: StoredMessage): string {
  if (m.status === 'cancelled') return `\n\n${CANCELLED_LINE}`;
  if (m.status === 'streaming' || m.status === 'interrupted') return `\n\n${INTERRUPTED_LINE}`;
  if (m.status === 'error') return `\n\n${m.error ?? '> [!ERROR] The answer failed.'}`;
  const stats = statsLine({
    provider: m.provider ?? '?',
    model: m.model,
    usage: m.usage,
    ttftMs: m.ttftMs,
    elapsedMs: m.elapsedMs,
    thinkingChars: m.thinkingChars,
  });
  return stats ? `\n\n${stats}` : '';
}

/** The text the user typed for the next question: everything after the last `## You`. */
export function pendingPrompt(lines: readonly string[]): { text: string; headerRow: number } {
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i] === USER_HEADER) {
      return {
        text: lines
          .slice(i + 1)
          .join('\n')
          .trim(),
        headerRow: i,
      };
    }
  }
  return { text: lines.join('\n').trim(), headerRow: -1 };
}

/** The first line of the folded block that shows one tool call and its result. */
export const TOOL_OPEN = '<details><summary>tool:';
/** At most this much of a tool result is shown in the chat (the model gets more). */
const SHOWN_RESULT_CHARS = 4000;

/** Opens a tool call's folded block: the tool and its arguments (the result follows). */
export function toolCallBlock(name: string, input: unknown): string {
  const args = JSON.stringify(input ?? {}, null, 2);
  const fence = fenceFor(args);
  return `\n\n${TOOL_OPEN} ${name}</summary>\n\n${fence}json\n${args}\n${fence}\n`;
}

/** Closes a tool call's block with its result, or why it did not run. */
export function toolResultBlock(run: { text: string; isError: boolean; denied: boolean }): string {
  if (run.denied) return `\n> [!WARNING] denied: ${firstLine(run.text)}\n\n${CONTEXT_CLOSE}\n\n`;
  let text = run.text.replace(/\n$/, '');
  if (text.length > SHOWN_RESULT_CHARS) {
    text = `${text.slice(0, SHOWN_RESULT_CHARS)}\n… (${run.text.length} characters in all)`;
  }
  const fence = fenceFor(text);
  const label = run.isError ? 'error:' : 'result:';
  return `\n${label}\n\n${fence}\n${text}\n${fence}\n\n${CONTEXT_CLOSE}\n\n`;
}

/** Closes a tool call's block when the answer was stopped before the tool finished. */
export function toolStoppedBlock(): string {
  return `\n> stopped before the tool finished\n\n${CONTEXT_CLOSE}`;
}

/** Said when the model kept calling tools past the step limit. */
export function stepLimitNote(max: number): string {
  return `\n\n> [!NOTE] Stopped after ${max} rounds of tool calls (chat.max_tool_steps). Submit again to let the model continue.`;
}

/** An answer's text without its tool blocks (what is sent back as history). */
export function stripToolBlocks(content: string): string {
  if (!content.includes(TOOL_OPEN)) return content;
  const lines = content.split('\n');
  const out: string[] = [];
  let inside = false;
  let fence: string | undefined;
  for (const line of lines) {
    if (!inside) {
      if (line.startsWith(TOOL_OPEN)) inside = true;
      else out.push(line);
      continue;
    }
    const m = /^(`{3,})/.exec(line);
    if (m) {
      if (!fence) fence = m[1];
      else if (line === fence) fence = undefined;
    } else if (!fence && line === CONTEXT_CLOSE) {
      inside = false;
    }
  }
  return out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** The message of an OAuth sign-in that ended (it names :RuneAuth), anywhere in the cause chain. */
function signInEnded(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof AuthError && e.message.includes('sign in again with :RuneAuth')) {
      return firstLine(e.message);
    }
  }
  return undefined;
}
