/**
 * Fill-in-the-middle through a chat model, for APIs without a FIM endpoint (Anthropic,
 * chat-only OpenAI-compatible servers, Zeke): the prompt shows the code around the
 * cursor and asks for exactly the missing text.
 */
import type { CompleteResult } from './adapter.js';
import { malformed, type Who } from './errors.js';
import type { ChatEvent, ChatRequest, FimRequest } from './types.js';

export const FIM_SYSTEM =
  'You are a code completion engine. You are shown a file with the marker <CURSOR> where the ' +
  'user is typing. Reply with only the text to insert at <CURSOR>: no explanations, no ' +
  'repetition of the surrounding code, no Markdown code fences. Reply with nothing if ' +
  'nothing should be inserted.';

/** The user message for a FIM request. */
export function fimPrompt(req: FimRequest): string {
  const about = [
    req.filename ? `File: ${req.filename}` : undefined,
    req.language ? `Language: ${req.language}` : undefined,
  ]
    .filter(Boolean)
    .join('\n');
  return `${about ? `${about}\n` : ''}<file>\n${req.prefix}<CURSOR>${req.suffix}\n</file>`;
}

export function fimChatRequest(req: FimRequest, model: string): ChatRequest {
  return {
    model,
    system: FIM_SYSTEM,
    messages: [{ role: 'user', content: fimPrompt(req) }],
    ...(req.maxTokens !== undefined ? { maxTokens: req.maxTokens } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
  };
}

/** Strips a code fence a chat model may add anyway, and cuts at the first stop string. */
export function cleanFimAnswer(text: string, stop?: string[]): string {
  let t = text;
  const fence = /^\s*```[^\n]*\n([\s\S]*?)\n?```\s*$/.exec(t);
  if (fence) t = fence[1] ?? '';
  t = t.replace(/<CURSOR>/g, '');
  for (const s of stop ?? []) {
    const i = s ? t.indexOf(s) : -1;
    if (i >= 0) t = t.slice(0, i);
  }
  return t;
}

/** The completion a chat prompt (fimChatRequest) answered, collected from its events. */
export async function fimFromChat(
  events: AsyncIterable<ChatEvent>,
  req: FimRequest,
  who: Who,
): Promise<CompleteResult> {
  let text = '';
  for await (const ev of events) {
    if (ev.type === 'text') text += ev.delta;
    else if (ev.type === 'done') {
      return {
        completions: [{ text: cleanFimAnswer(text, req.stop) }],
        usage: ev.usage,
        model: ev.model,
      };
    }
  }
  throw malformed(who, new Error('no final event'));
}
