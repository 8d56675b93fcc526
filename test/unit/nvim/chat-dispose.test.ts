/**
 * A restart right after an answer ended: the answer is on screen before its save is done,
 * and stopping the chat must wait for that save.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryLogger } from '../../../src/core/log.js';
import { ChatController, type ChatUi } from '../../../src/nvim/chat/controller.js';
import { HistoryStore, type StoredChat } from '../../../src/nvim/chat/history.js';
import { parseChatSection } from '../../../src/nvim/chat/index.js';
import { startOllamaServer, type OllamaServer } from '../../helpers/servers/index.js';
import { registryFor } from '../providers/helpers.js';

/** A chat buffer kept as lines, as lua/rune/chat.lua keeps it. */
function memoryUi(): ChatUi & { text(): string } {
  let lines: string[] = [];
  return {
    text: () => lines.join('\n'),
    create: (_id, _project, l) => ((lines = [...l]), Promise.resolve(1)),
    exists: () => Promise.resolve(true),
    lines: () => Promise.resolve([...lines]),
    addToPrompt: (_b, text) => (lines.push(text), Promise.resolve()),
    pending: () => Promise.resolve(true),
    begin: (_b, row, text) => (
      (lines = [...lines.slice(0, row), ...text.split('\n')]),
      Promise.resolve(true)
    ),
    append: (_b, text) => {
      const parts = text.split('\n');
      lines[lines.length - 1] += parts[0]!;
      lines.push(...parts.slice(1));
      return Promise.resolve(true);
    },
    status: () => Promise.resolve(),
    chatIds: () => Promise.resolve(null),
    context: () => Promise.resolve([]),
    warn: () => Promise.resolve(),
    error: () => Promise.resolve(),
  };
}

/** Saves that take a while once `slow` is set, as on a busy disk. */
class SlowHistory extends HistoryStore {
  slow = false;
  override async save(chat: StoredChat): Promise<void> {
    if (this.slow) await new Promise((r) => setTimeout(r, 300));
    return super.save(chat);
  }
}

let server: OllamaServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe('chat controller shutdown', () => {
  it('waits for the save of an answer that just ended', async () => {
    server = await startOllamaServer();
    server.enqueue('chat', { text: 'The last answer.' });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-chat-dispose-'));
    const history = new SlowHistory(dir, createMemoryLogger());
    const ui = memoryUi();
    const { registry } = registryFor({ local: { kind: 'ollama', url: server.url } });
    const chat = new ChatController({
      ui,
      logger: createMemoryLogger(),
      registry: () => registry,
      history,
      config: parseChatSection({}),
    });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-chat-root-'));
    const { id } = await chat.open({ root });
    history.slow = true;
    await ui.addToPrompt(1, 'hi');
    await chat.submit(1);
    // The answer is written and the next prompt shown: the user sees an idle chat.
    for (let i = 0; i < 500 && !ui.text().endsWith('## You\n'); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(ui.text()).toContain('The last answer.');
    await chat.disposeAsync();
    const saved = await new HistoryStore(dir, createMemoryLogger()).load(root, id);
    expect(saved.messages.at(-1)).toMatchObject({
      role: 'assistant',
      content: 'The last answer.',
    });
    registry.dispose();
  });
});
