/**
 * zeke takes a conversation as ONE prompt string: `zeke serve`'s POST /api/chat has a single
 * `message` (src/rpc/zhttp_server.zig), and `zeke chat "…"` a single argument. Both the HTTP
 * and the CLI provider flatten the conversation here.
 *
 * zeke hands the prompt to Ollama's /api/generate without `num_ctx` (src/routing/router.zig
 * `tryLocalOllama`), so Ollama's default context window applies (2048 tokens on many
 * installs) and Ollama silently cuts the START of a longer prompt — the system prompt and
 * the oldest turns would vanish without a word. So the prompt is kept under
 * ZEKE_PROMPT_CHARS (about 1500 tokens, leaving room for the answer): the system prompt and
 * the newest message always stay, older messages go first, and the answer starts with a
 * notice saying how many were left out.
 */
import type { ChatMessage, ChatRequest } from './types.js';

export const ZEKE_PROMPT_CHARS = 6000;

const NOTICE_START = '_(Rune: zeke takes the conversation as one prompt';

/** The line that starts an answer whose prompt left out `dropped` older messages. */
export function zekeNotice(dropped: number, budget = ZEKE_PROMPT_CHARS): string {
  const n = dropped === 1 ? '1 older message was' : `${dropped} older messages were`;
  return `${NOTICE_START} of at most ${budget} characters; ${n} left out.)_\n\n`;
}

function text(m: ChatMessage): string {
  const t =
    typeof m.content === 'string'
      ? m.content
      : m.content
          .map((p) => {
            if (p.type === 'text') return p.text;
            if (p.type === 'tool_result') return `[tool result] ${p.content}`;
            if (p.type === 'tool_call') return `[tool call ${p.name}] ${JSON.stringify(p.input)}`;
            return '[image omitted]';
          })
          .join('\n');
  // An earlier notice is Rune's, not the model's: it does not go back to zeke.
  if (m.role === 'assistant' && t.startsWith(NOTICE_START)) {
    const end = t.indexOf(')_\n\n');
    return end < 0 ? t : t.slice(end + 4);
  }
  return t;
}

export interface ZekePrompt {
  prompt: string;
  /** How many older messages were left out to stay within the budget. */
  dropped: number;
}

/** One prompt for zeke: a single question as is, a conversation as a transcript. */
export function zekePrompt(req: ChatRequest, budget = ZEKE_PROMPT_CHARS): ZekePrompt {
  const turns = req.messages.map((m) => ({ role: m.role, text: text(m) })).filter((m) => m.text);
  if (!req.system && turns.length === 1 && turns[0]!.role === 'user') {
    return { prompt: turns[0]!.text, dropped: 0 };
  }
  const head = req.system ? `System: ${req.system}\n\n` : '';
  const tail = 'Assistant:';
  const kept: string[] = [];
  let size = head.length + tail.length;
  for (let i = turns.length - 1; i >= 0; i--) {
    const m = turns[i]!;
    const who = m.role === 'assistant' ? 'Assistant' : m.role === 'system' ? 'System' : 'User';
    const piece = `${who}: ${m.text}\n\n`;
    if (kept.length > 0 && size + piece.length > budget) break;
    kept.unshift(piece);
    size += piece.length;
  }
  return { prompt: head + kept.join('') + tail, dropped: turns.length - kept.length };
}
