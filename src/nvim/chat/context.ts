/**
 * Editor context for a question: `#buffer`, `#buffer:name`, `#selection`,
 * `#diagnostics`, `#file:path`, `#quickfix`, `#mcp:server:uri` (a resource
 * of an MCP hub server), `#git` (the staged diff) and `#gitlog` (recent
 * commits) words in the prompt are resolved to text sent with it (and shown,
 * folded, in the chat). CONTEXT_KINDS is the one list of them: the chat's
 * completion (lua/rune/chat.lua) asks the host for it.
 */
import { expandHome } from '../../core/home.js';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NeovimClient } from 'neovim';
import { execLua } from './lua.js';
import { NotFoundError } from '../../core/errors.js';

/** Every context word (`#buffer`, …), once. */
export const CONTEXT_KINDS = [
  'buffer',
  'selection',
  'diagnostics',
  'file',
  'quickfix',
  'mcp',
  'git',
  'gitlog',
] as const;
export type ContextKind = (typeof CONTEXT_KINDS)[number];

/** One piece of context as sent and as shown. */
export interface ContextItem {
  kind: ContextKind;
  /** What the chat shows, e.g. `#selection src/a.ts:3-7`. */
  label: string;
  text: string;
  /** Markdown fence language (a filetype). */
  language?: string | undefined;
  /** Set when the text was cut to the budget: what was left out, for people. */
  cut?: string | undefined;
}

/** A `#word` found in a prompt. */
export interface ContextRef {
  kind: ContextKind;
  arg?: string | undefined;
}

/** Lines the user selected when opening the chat (`:'<,'>RuneChat`). */
export interface Selection {
  buf: number;
  name: string;
  filetype: string;
  line1: number;
  line2: number;
  lines: string[];
}

/** What completion says about each word, and whether it takes an argument after a colon. */
const WORD_INFO: Record<ContextKind, { arg: 'none' | 'optional' | 'required'; menu: string }> = {
  buffer: { arg: 'optional', menu: 'the buffer you came from (#buffer:name for another)' },
  selection: { arg: 'none', menu: 'the lines selected when the chat was opened' },
  diagnostics: { arg: 'none', menu: "the source buffer's diagnostics" },
  file: { arg: 'required', menu: 'a file, relative to the project root' },
  quickfix: { arg: 'none', menu: 'the quickfix list' },
  mcp: { arg: 'required', menu: 'a resource of an MCP server (#mcp:server:uri)' },
  git: { arg: 'none', menu: 'the staged changes (git diff --staged)' },
  gitlog: { arg: 'none', menu: 'the last 20 commits (git log)' },
};

/** The words as completion items (`#file:` for words that need an argument). */
export function contextWordItems(): { word: string; menu: string }[] {
  return CONTEXT_KINDS.map((kind) => ({
    word: `#${kind}${WORD_INFO[kind].arg === 'required' ? ':' : ''}`,
    menu: WORD_INFO[kind].menu,
  }));
}

// A word ends where letters end, so `#gitlog` is never read as `#git` + "log".
const REF = new RegExp(`(?<=^|\\s)#(${CONTEXT_KINDS.join('|')})(?!\\w)(?::(\\S+))?`, 'g');

/** The context words in `prompt`, each once, in order of appearance. */
export function parseContextRefs(prompt: string): ContextRef[] {
  const seen = new Set<string>();
  const out: ContextRef[] = [];
  for (const m of prompt.matchAll(REF)) {
    const kind = m[1] as ContextKind;
    const arg = m[2];
    const key = `${kind}:${arg ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ kind, arg });
  }
  return out;
}

export interface CollectOptions {
  nvim: NeovimClient;
  /** The project root; relative paths and labels are relative to it. */
  root: string;
  /** The buffer the user was in (what `#buffer` and `#diagnostics` mean). */
  sourceBuf: number | undefined;
  selection: Selection | undefined;
  /**
   * The budget of the whole context, in characters: items are taken in order
   * and each is cut to what is left (with a note saying what was cut).
   */
  maxChars: number;
  /** Reads a resource of an MCP hub server (`#mcp:server:uri`); absent when the hub is off. */
  readResource?: (server: string, uri: string) => Promise<{ text: string; mimeType?: string }>;
}

interface BufferText {
  name: string;
  filetype: string;
  lines: string[];
}

/** Resolves the refs to text. A ref that cannot be resolved throws NotFoundError naming it. */
export async function collectContext(
  refs: readonly ContextRef[],
  opts: CollectOptions,
): Promise<ContextItem[]> {
  const out: ContextItem[] = [];
  let left = opts.maxChars;
  for (const ref of refs) {
    const item = truncate(await collectOne(ref, { ...opts, maxChars: left }), left);
    left = Math.max(0, left - item.text.length);
    out.push(item);
  }
  return out;
}

/** An item as read; `unread` bytes of its source were not even read (a huge file). */
type Collected = ContextItem & { unread?: number };

async function collectOne(ref: ContextRef, opts: CollectOptions): Promise<Collected> {
  const rel = (name: string) => relativeName(name, opts.root);
  switch (ref.kind) {
    case 'selection': {
      const s = opts.selection;
      if (!s) {
        throw new NotFoundError(
          '#selection: nothing is selected. Select lines, then run :RuneChat from visual mode.',
        );
      }
      return {
        kind: 'selection',
        label: `#selection ${rel(s.name)}:${s.line1}-${s.line2}`,
        text: s.lines.join('\n'),
        language: s.filetype || undefined,
      };
    }
    case 'buffer': {
      const b = await bufferText(opts, ref.arg);
      return {
        kind: 'buffer',
        label: `#buffer ${rel(b.name)}`,
        text: b.lines.join('\n'),
        language: b.filetype || undefined,
      };
    }
    case 'diagnostics': {
      const items = (await execLua(opts.nvim, 'return require("rune.context").diagnostics(...)', [
        opts.sourceBuf ?? null,
      ])) as { name: string; items: Diagnostic[] } | null;
      if (!items) throw new NotFoundError('#diagnostics: there is no source buffer to read.');
      const name = rel(items.name);
      const text = formatDiagnostics(name, items.items);
      return { kind: 'diagnostics', label: `#diagnostics ${name}`, text };
    }
    case 'quickfix': {
      const list = (await execLua(opts.nvim, 'return require("rune.context").quickfix()', [])) as {
        name: string;
        lnum: number;
        col: number;
        text: string;
        type: string;
      }[];
      const text = list.length
        ? list
            .map(
              (q) =>
                `${q.name ? rel(q.name) : '?'}:${q.lnum}:${q.col}: ${q.type ? `${q.type}: ` : ''}${q.text}`,
            )
            .join('\n')
        : '(the quickfix list is empty)';
      return { kind: 'quickfix', label: `#quickfix (${list.length} items)`, text };
    }
    case 'mcp': {
      const i = ref.arg?.indexOf(':') ?? -1;
      if (!ref.arg || i <= 0) {
        throw new NotFoundError(
          '#mcp needs a server and a resource, e.g. #mcp:github:repo://readme',
        );
      }
      const server = ref.arg.slice(0, i);
      const uri = ref.arg.slice(i + 1);
      if (!opts.readResource) {
        throw new NotFoundError(`#mcp:${ref.arg}: the MCP hub is off (mcp.hub.enabled).`);
      }
      let res: { text: string; mimeType?: string };
      try {
        res = await opts.readResource(server, uri);
      } catch (err) {
        throw new NotFoundError(
          `#mcp:${ref.arg}: ${(err as Error).message.replace(/\.$/, '')}; list the resources with require("rune.hub").servers().`,
        );
      }
      return {
        kind: 'mcp',
        label: `#mcp:${ref.arg}`,
        text: res.text,
        language: res.mimeType === 'application/json' ? 'json' : undefined,
      };
    }
    case 'git': {
      const diff = await git(
        opts.root,
        ['diff', '--staged', '--no-color', '--no-ext-diff'],
        '#git',
      );
      if (!diff.trim()) {
        throw new NotFoundError(
          `#git: nothing is staged in ${opts.root}; stage your changes with git add first.`,
        );
      }
      return { kind: 'git', label: '#git (staged changes)', text: diff, language: 'diff' };
    }
    case 'gitlog': {
      const log = await git(
        opts.root,
        ['log', '-n', '20', '--no-color', '--date=short', '--format=%h %ad %an: %s'],
        '#gitlog',
      );
      return {
        kind: 'gitlog',
        label: '#gitlog (last 20 commits)',
        text: log.trimEnd() || '(no commits yet)',
      };
    }
    case 'file': {
      if (!ref.arg) throw new NotFoundError('#file needs a path, e.g. #file:src/main.ts');
      const file = resolvePath(ref.arg, opts.root);
      let head: { text: string; unread: number };
      try {
        head = await readHead(file, opts.maxChars);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new NotFoundError(
          `#file:${ref.arg}: ${code === 'ENOENT' ? 'no such file' : `cannot read it (${code})`}; check the path (relative to ${opts.root}).`,
        );
      }
      return {
        kind: 'file',
        label: `#file:${ref.arg}`,
        text: head.text,
        unread: head.unread,
        language: path.extname(file).slice(1) || undefined,
      };
    }
  }
}

export interface Diagnostic {
  lnum: number;
  col: number;
  severity: string;
  message: string;
  source: string;
}

/** Diagnostics as `file:line:col: SEVERITY: message [source]` lines. */
export function formatDiagnostics(name: string, items: readonly Diagnostic[]): string {
  return items.length
    ? items
        .map(
          (d) =>
            `${name}:${d.lnum}:${d.col}: ${d.severity}: ${d.message}${d.source ? ` [${d.source}]` : ''}`,
        )
        .join('\n')
    : `(no diagnostics in ${name})`;
}

/** The only variables git needs; nothing else of the host's environment reaches it. */
const GIT_ENV = ['PATH', 'HOME', 'XDG_CONFIG_HOME', 'LANG', 'LC_ALL', 'GIT_DIR', 'GIT_WORK_TREE'];

/** Runs git (no shell) in `root`; a failure names the word and what to do. */
function git(root: string, args: string[], word: string): Promise<string> {
  const env: Record<string, string> = { GIT_PAGER: 'cat', GIT_TERMINAL_PROMPT: '0' };
  for (const k of GIT_ENV) if (process.env[k] !== undefined) env[k] = process.env[k];
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd: root, env, timeout: 10_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const why =
          (err as NodeJS.ErrnoException).code === 'ENOENT'
            ? 'git is not installed (or not on PATH)'
            : stderr.trim().split('\n')[0] || err.message;
        reject(new NotFoundError(`${word}: ${why} (in ${root}); open a file of a git repository.`));
      },
    );
  });
}

async function bufferText(opts: CollectOptions, name: string | undefined): Promise<BufferText> {
  const res = (await execLua(opts.nvim, 'return require("rune.context").buffer_text(...)', [
    opts.sourceBuf ?? null,
    name ?? null,
  ])) as BufferText | null;
  if (!res) {
    throw new NotFoundError(
      name
        ? `#buffer:${name}: no buffer has that name; check :ls.`
        : '#buffer: there is no source buffer; run :RuneChat from the buffer you mean.',
    );
  }
  return res;
}

function resolvePath(p: string, root: string): string {
  return path.resolve(root, expandHome(p));
}

function relativeName(name: string, root: string): string {
  if (!name) return '[No Name]';
  const rel = path.relative(root, name);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : name;
}

/**
 * The start of a file, enough for `maxChars` characters (a UTF-8 character is
 * at most 4 bytes): a huge file is never read whole. `unread` counts the bytes
 * left unread.
 */
async function readHead(file: string, maxChars: number): Promise<{ text: string; unread: number }> {
  const fh = await fs.promises.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const want = Math.min(size, maxChars * 4 + 4);
    const buf = Buffer.alloc(want);
    const { bytesRead } = await fh.read(buf, 0, want, 0);
    const text = new TextDecoder('utf-8').decode(buf.subarray(0, bytesRead));
    if (bytesRead >= size) return { text, unread: 0 };
    // A character cut in half at the end decodes to U+FFFD: drop it.
    return { text: text.replace(/\uFFFD$/, ''), unread: size - bytesRead };
  } finally {
    await fh.close();
  }
}

/** Cuts an item to `max` characters; the text sent and `cut` say what was left out. */
function truncate(item: Collected, max: number): ContextItem {
  const { unread = 0, ...rest } = item;
  if (rest.text.length <= max && unread === 0) return rest;
  const sent = rest.text.slice(0, max);
  const chars = rest.text.length - sent.length;
  const left =
    unread > 0 ? `${chars} more characters and ${unread} more bytes` : `${chars} more characters`;
  return {
    ...rest,
    text: sent
      ? `${sent}\n… (cut: ${left} not sent)`
      : `(not sent: ${left}; over the context budget)`,
    cut: `${sent ? `the first ${sent.length} characters were sent` : 'nothing was sent'}; ${left} were left out`,
  };
}

/** The user's words plus the context, as the model receives them. */
export function promptWithContext(prompt: string, items: readonly ContextItem[]): string {
  if (items.length === 0) return prompt;
  const blocks = items.map((i) => `<context name="${i.label}">\n${i.text}\n</context>`);
  return `${prompt}\n\n${blocks.join('\n\n')}`;
}
