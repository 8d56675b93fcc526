/**
 * Fits a chat request into the model's context window, so a small local model (a
 * llama.cpp server with 4,096 tokens) gets an answer instead of a "request exceeds the
 * context size" error: the answer keeps a reserve, the tools get at most half of the
 * rest (the smallest definitions first, so the most tools fit), and the oldest turns of
 * the history go until the rest fits. The latest user message always stays.
 *
 * Sizes are counted in UTF-8 bytes: no tokenizer makes more tokens than bytes (every
 * token covers at least one byte), so the estimate never underestimates, whatever the
 * model. It is generous for large models, which have room to spare.
 */
import type { ChatMessage, ToolSpec } from '../providers/types.js';

/** Per message / per tool: role markers, separators and the template's JSON framing. */
const MESSAGE_OVERHEAD = 16;
const TOOL_OVERHEAD = 48;

export interface Fitted {
  messages: ChatMessage[];
  tools: ToolSpec[];
  /** How many history messages and tools were left out. */
  droppedMessages: number;
  droppedTools: number;
}

function bytes(s: string): number {
  return Buffer.byteLength(s);
}

export function messageSize(m: ChatMessage): number {
  return (
    MESSAGE_OVERHEAD + bytes(typeof m.content === 'string' ? m.content : JSON.stringify(m.content))
  );
}

export function toolSize(t: ToolSpec): number {
  return TOOL_OVERHEAD + bytes(JSON.stringify(t));
}

/**
 * The request's messages and tools trimmed to `contextTokens`, keeping `reserve` tokens
 * for the answer. Without a context length, everything is kept.
 */
export function fitToContext(
  req: { system: string; messages: ChatMessage[]; tools: ToolSpec[] },
  contextTokens: number | undefined,
  reserve: number,
): Fitted {
  if (!contextTokens) {
    return { messages: req.messages, tools: req.tools, droppedMessages: 0, droppedTools: 0 };
  }
  const input = Math.max(0, contextTokens - Math.min(reserve, Math.floor(contextTokens / 4)));
  const fixed = MESSAGE_OVERHEAD + bytes(req.system) + messageSize(req.messages.at(-1)!);
  // Tools: at most half of what the input may use, smallest first, in their given order.
  let toolRoom = Math.max(0, Math.floor((input - fixed) / 2));
  const keep = new Set<ToolSpec>();
  for (const t of [...req.tools].sort((a, b) => toolSize(a) - toolSize(b))) {
    const size = toolSize(t);
    if (size > toolRoom) break;
    keep.add(t);
    toolRoom -= size;
  }
  const tools = req.tools.filter((t) => keep.has(t));
  // History: the newest turns that fit in what is left, whole tool exchanges only.
  let room = input - fixed - tools.reduce((n, t) => n + toolSize(t), 0);
  let start = req.messages.length - 1;
  while (start > 0) {
    const size = messageSize(req.messages[start - 1]!);
    if (size > room) break;
    room -= size;
    start--;
  }
  // Never begin with a tool result whose call was dropped.
  while (start < req.messages.length - 1 && startsWithToolResult(req.messages[start]!)) start++;
  return {
    messages: req.messages.slice(start),
    tools,
    droppedMessages: start,
    droppedTools: req.tools.length - tools.length,
  };
}

function startsWithToolResult(m: ChatMessage): boolean {
  if (m.role === 'tool') return true;
  return Array.isArray(m.content) && m.content.some((p) => p.type === 'tool_result');
}
