import { describe, expect, it } from 'vitest';
import { fitToContext, messageSize, toolSize } from '../../../src/chat/budget.js';
import type { ChatMessage, ToolSpec } from '../../../src/providers/types.js';

const tool = (name: string, pad: number): ToolSpec => ({
  name,
  description: 'x'.repeat(pad),
  inputSchema: { type: 'object' },
});
const user = (text: string): ChatMessage => ({ role: 'user', content: text });
const assistant = (text: string): ChatMessage => ({ role: 'assistant', content: text });

describe('fitting a chat request to the context window', () => {
  it('keeps everything when the context length is unknown', () => {
    const req = { system: 's', messages: [user('a'.repeat(100_000))], tools: [tool('t', 9000)] };
    expect(fitToContext(req, undefined, 1024)).toEqual({
      messages: req.messages,
      tools: req.tools,
      droppedMessages: 0,
      droppedTools: 0,
    });
  });

  it('offers the smallest tools first within half the room, in their order', () => {
    const tools = [tool('big', 3000), tool('small', 10), tool('mid', 500), tool('tiny', 1)];
    const fit = fitToContext({ system: '', messages: [user('hi')], tools }, 4096, 1024);
    expect(fit.tools.map((t) => t.name)).toEqual(['small', 'mid', 'tiny']);
    expect(fit.droppedTools).toBe(1);
    const used = fit.tools.reduce((n, t) => n + toolSize(t), 0);
    expect(used).toBeLessThanOrEqual((4096 - 1024) / 2);
  });

  it('drops the oldest turns, keeps the latest message, never starts with a tool result', () => {
    const messages: ChatMessage[] = [
      user('old '.repeat(400)),
      assistant('x'.repeat(900)),
      { role: 'assistant', content: [{ type: 'tool_call', id: 'c', name: 'n', input: {} }] },
      { role: 'tool', content: [{ type: 'tool_result', id: 'c', content: 'r'.repeat(1500) }] },
      assistant('recent'),
      user('now'),
    ];
    const fit = fitToContext({ system: 'sys', messages, tools: [] }, 4096, 1024);
    expect(fit.messages.at(-1)).toEqual(user('now'));
    expect(fit.messages[0]!.role).not.toBe('tool');
    const size = fit.messages.reduce((n, m) => n + messageSize(m), 0);
    expect(size).toBeLessThanOrEqual(4096 - 1024);
    expect(fit.droppedMessages).toBeGreaterThan(0);
    expect(fit.messages).toEqual(messages.slice(fit.droppedMessages));
  });
});
