/**
 * Saved chats, one JSON file per chat under
 * `stdpath('state')/rune/chats/<project-hash>/<chat-id>.json`. Every write is
 * atomic (temporary file + fsync + rename), so a crash of Neovim or the host
 * at any moment leaves the previous version or the new one, never a torn file.
 *
 * Versions: 1 kept only the text of each answer. 2 adds `turns` to an answer
 * that used tools: the assistant's tool calls and the tool results (approvals
 * and refusals included) exactly as the model saw them, so a reopened chat
 * sends the same conversation. Version 1 files load as version 2 without turns.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isAtomicTemp, moveAside, removeIfStale, writeFileAtomic } from '../../core/atomic-file.js';
import { NotFoundError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { CONTEXT_KINDS } from './context.js';

const usageSchema = z.object({ inputTokens: z.number(), outputTokens: z.number() });
const contextSchema = z.object({
  kind: z.enum(CONTEXT_KINDS),
  label: z.string(),
  text: z.string(),
  language: z.string().optional(),
});

const partSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text'), text: z.string() }),
  z.object({ type: z.literal('tool_call'), id: z.string(), name: z.string(), input: z.unknown() }),
  z.object({
    type: z.literal('tool_result'),
    id: z.string(),
    content: z.string(),
    isError: z.boolean().optional(),
  }),
]);

/** One message of an answer's tool loop, as sent to the model. */
const turnSchema = z.object({
  role: z.enum(['assistant', 'tool']),
  content: z.union([z.string(), z.array(partSchema)]),
});

const messageSchema = z.object({
  role: z.enum(['user', 'assistant']),
  content: z.string(),
  context: z.array(contextSchema).optional(),
  /** Assistant messages: how the answer ended. `streaming` on disk means the host died mid-answer. */
  status: z.enum(['streaming', 'done', 'cancelled', 'error', 'interrupted']).optional(),
  error: z.string().optional(),
  provider: z.string().optional(),
  model: z.string().optional(),
  usage: usageSchema.optional(),
  ttftMs: z.number().optional(),
  elapsedMs: z.number().optional(),
  /** Characters of reasoning the model streamed before answering (not shown, not resent). */
  thinkingChars: z.number().optional(),
  /** Assistant messages that used tools: the loop's messages after the question (version 2). */
  turns: z.array(turnSchema).optional(),
});

/** The version written; older ones are migrated when read. */
export const HISTORY_VERSION = 2;

const chatSchema = z.object({
  version: z.union([z.literal(1), z.literal(2)]).transform(() => HISTORY_VERSION),
  id: z.string(),
  project: z.string(),
  title: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  provider: z.string().optional(),
  model: z.string().optional(),
  messages: z.array(messageSchema),
});

export type StoredMessage = z.infer<typeof messageSchema>;
export type StoredTurn = z.infer<typeof turnSchema>;
export type StoredChat = z.output<typeof chatSchema>;

/** One line of `:RuneChatHistory`. */
export interface ChatSummary {
  id: string;
  title: string;
  updatedAt: string;
  messages: number;
}

const ID = /^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}$/;

export class HistoryStore {
  constructor(
    /** `stdpath('state')/rune/chats`. */
    readonly dir: string,
    private readonly logger: Logger,
    /** Told (with a message for the user) when a damaged file was moved aside. */
    private readonly onDamaged?: (message: string) => void,
  ) {}

  /** The folder holding one project's chats. */
  projectDir(project: string): string {
    const hash = createHash('sha256').update(project).digest('hex').slice(0, 16);
    return path.join(this.dir, hash);
  }

  /** A new, empty chat (not written until the first message). */
  create(project: string): StoredChat {
    const now = new Date();
    const stamp = now
      .toISOString()
      .replace(/[-:T]/g, '')
      .slice(0, 14)
      .replace(/^(\d{8})/, '$1-');
    const id = `${stamp}-${randomBytes(4).toString('hex')}`;
    return {
      version: HISTORY_VERSION,
      id,
      project,
      title: 'New chat',
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      messages: [],
    };
  }

  file(chat: Pick<StoredChat, 'id' | 'project'>): string {
    return path.join(this.projectDir(chat.project), `${chat.id}.json`);
  }

  async save(chat: StoredChat): Promise<void> {
    chat.updatedAt = new Date().toISOString();
    await writeFileAtomic(this.file(chat), JSON.stringify(chat, null, 1) + '\n');
  }

  async load(project: string, id: string): Promise<StoredChat> {
    if (!ID.test(id)) throw new NotFoundError(`No saved chat "${id}".`);
    const file = this.file({ id, project });
    let raw: string;
    try {
      raw = await fs.promises.readFile(file, 'utf8');
    } catch {
      throw new NotFoundError(`No saved chat "${id}" for ${project}; see :RuneChatHistory.`);
    }
    let data: unknown;
    try {
      data = JSON.parse(raw);
    } catch (err) {
      throw this.damaged(file, `not JSON: ${(err as Error).message}`);
    }
    const version = (data as { version?: unknown } | null)?.version;
    if (typeof version === 'number' && version > HISTORY_VERSION) {
      throw new NotFoundError(
        `The saved chat ${file} was written by a newer Rune (version ${version}); it was left untouched.`,
      );
    }
    const parsed = chatSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw this.damaged(file, `${issue?.path.join('.') || 'the file'}: ${issue?.message}`);
    }
    return parsed.data;
  }

  /** Moves a damaged chat file aside (never deletes it) and says where it went. */
  private damaged(file: string, reason: string): NotFoundError {
    const message = `The saved chat ${moveAside(file, reason)}`;
    this.logger.warn('damaged chat file', { file, reason });
    this.onDamaged?.(message);
    return new NotFoundError(message);
  }

  /** The project's chats, newest first. Unreadable files are skipped (and logged). */
  async list(project: string): Promise<ChatSummary[]> {
    const dir = this.projectDir(project);
    let names: string[];
    try {
      names = await fs.promises.readdir(dir);
    } catch {
      return [];
    }
    const out: ChatSummary[] = [];
    for (const name of names) {
      if (isAtomicTemp(name)) await removeIfStale(path.join(dir, name));
      if (!name.endsWith('.json') || !ID.test(name.slice(0, -5))) continue;
      try {
        const chat = await this.load(project, name.slice(0, -5));
        out.push({
          id: chat.id,
          title: chat.title,
          updatedAt: chat.updatedAt,
          messages: chat.messages.length,
        });
      } catch (err) {
        this.logger.warn('skipping chat file', { file: path.join(dir, name), err });
      }
    }
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  }
}

/** A title from the first question: its first line, shortened. */
export function titleFrom(prompt: string): string {
  const line = prompt.split('\n').find((l) => l.trim()) ?? 'New chat';
  const t = line.trim().replace(/\s+/g, ' ');
  return t.length > 60 ? `${t.slice(0, 57)}...` : t;
}
