/**
 * The prompt library: ready questions the user calls as `/name` at the start
 * of a chat question or of a `:RuneEdit` instruction. Built-in prompts come
 * first; the user's `prompts` in setup() add to them or replace them by name.
 *
 * A prompt's text may hold placeholders, filled from the code the user points
 * at (the selection, else the buffer): `{selection}`, `{filetype}`, `{file}`,
 * `{diagnostics}` (of the selected lines only). `#context` words in it
 * (`#git` for the commit prompt) are resolved like the ones the user types.
 */
import * as path from 'node:path';
import { z } from 'zod';
import type { NeovimClient } from 'neovim';
import { NotFoundError } from '../core/errors.js';
import { luaMap, parseSection } from '../core/config.js';
import { execLua } from './chat/lua.js';
import { formatDiagnostics, type Diagnostic } from './chat/context.js';

/** What `:RuneEdit /name` does: rewrite the lines, insert new code after them, or refuse (chat only). */
export type PromptEdit = 'rewrite' | 'insert' | 'none';

export interface Prompt {
  name: string;
  description: string;
  text: string;
  edit: PromptEdit;
}

const fence = '```{filetype}\n{selection}\n```';

export const BUILTIN_PROMPTS: readonly Prompt[] = [
  {
    name: 'explain',
    description: 'explain what the code does',
    text: `Explain what this code from {file} does, step by step.\n\n${fence}`,
    edit: 'none',
  },
  {
    name: 'fix',
    description: 'fix the problems in the code, with its diagnostics',
    text: `Fix the problems in this code from {file}. Its diagnostics:\n{diagnostics}\n\n${fence}`,
    edit: 'rewrite',
  },
  {
    name: 'tests',
    description: 'write unit tests for the code',
    text: `Write unit tests for this code from {file}, with the test framework the project uses; cover the edge cases.\n\n${fence}`,
    edit: 'insert',
  },
  {
    name: 'docs',
    description: 'add documentation comments',
    text: `Add documentation comments to this code from {file}, in the usual style for {filetype}; change nothing else.\n\n${fence}`,
    edit: 'rewrite',
  },
  {
    name: 'review',
    description: 'review the code: bugs, risks, clarity',
    text: `Review this code from {file}: list bugs, risky spots and unclear parts, most important first, each with a fix.\n\n${fence}`,
    edit: 'none',
  },
  {
    name: 'simplify',
    description: 'simplify the code without changing what it does',
    text: `Simplify this code from {file} without changing what it does: fewer branches, clearer names, no dead code.\n\n${fence}`,
    edit: 'rewrite',
  },
  {
    name: 'commit',
    description: 'a commit message for the staged changes',
    text: 'Write a commit message for the staged changes below: a summary line of at most 50 characters in the imperative mood, a blank line, then why the change was made, wrapped at 72 columns. Reply with the message only.\n\n#git',
    edit: 'insert',
  },
];

const NAME = /^[a-z][a-z0-9_-]*$/;

/** The `prompts` section of setup(): `{ name = { text, description?, edit? } }`. */
export const promptsConfigSchema = luaMap(
  z.object({
    text: z.string().min(1),
    description: z.string().optional(),
    edit: z.enum(['rewrite', 'insert', 'none']).optional(),
  }),
  z.string().regex(NAME, 'prompt names are lower-case letters, digits, - and _'),
)
  .default({})
  .describe('Your prompts for `/name` in the chat and :RuneEdit, by name');

/** The built-in prompts with the user's merged over them (a user prompt replaces a built-in one of its name). */
export function promptLibrary(config: unknown): Prompt[] {
  const parsed = parseSection('prompts', promptsConfigSchema, config);
  const out = new Map(BUILTIN_PROMPTS.map((p) => [p.name, p]));
  for (const [name, p] of Object.entries(parsed)) {
    out.set(name, {
      name,
      description: p.description ?? 'your prompt',
      text: p.text,
      edit: p.edit ?? 'rewrite',
    });
  }
  return [...out.values()];
}

/** The facts a prompt's placeholders are filled from. */
export interface PromptFacts {
  selection: string;
  filetype: string;
  file: string;
  diagnostics: string;
}

/**
 * Finds the `/name` that starts a line of `text` (the first one): the prompt, the
 * text before that line (e.g. `#selection`) and the rest after the name.
 * Undefined when no line starts with `/`; an unknown name is an error naming the known ones.
 */
export function findPrompt(
  library: readonly Prompt[],
  text: string,
): { prompt: Prompt; before: string; rest: string } | undefined {
  const m = /(^|\n)[ \t]*\/([a-z][a-z0-9_-]*)(?=\s|$)/.exec(text);
  if (!m) return undefined;
  const prompt = library.find((p) => p.name === m[2]);
  if (!prompt) {
    throw new NotFoundError(
      `/${m[2]}: no such prompt; the prompts are ${library.map((p) => `/${p.name}`).join(', ')}.`,
    );
  }
  return {
    prompt,
    before: text.slice(0, m.index).trim(),
    rest: text.slice(m.index + m[0].length).trim(),
  };
}

/** The prompt's text with its placeholders filled, between the user's own words before and after it. */
export function expandPrompt(
  found: { prompt: Prompt; before: string; rest: string },
  facts: PromptFacts,
): string {
  const text = found.prompt.text.replace(
    /\{(selection|filetype|file|diagnostics)\}/g,
    (_, key: keyof PromptFacts) => facts[key],
  );
  return [found.before, text, found.rest].filter(Boolean).join('\n\n');
}

/**
 * Reads the facts from Neovim: lines `line1..line2` (1-based, inclusive) of
 * `buf`, or the whole buffer when no lines are given; the diagnostics of those lines.
 */
export async function promptFacts(
  nvim: NeovimClient,
  buf: number,
  root: string,
  lines?: { line1: number; line2: number },
): Promise<PromptFacts> {
  const res = (await execLua(nvim, 'return require("rune.context").prompt_facts(...)', [
    buf,
    lines?.line1 ?? null,
    lines?.line2 ?? null,
  ])) as { name: string; filetype: string; lines: string[]; diagnostics: Diagnostic[] } | null;
  if (!res) throw new NotFoundError('The buffer is gone; run the prompt from a file buffer.');
  const rel = res.name ? path.relative(root, res.name) : '';
  const file = !res.name ? '[No Name]' : rel && !rel.startsWith('..') ? rel : res.name;
  return {
    selection: res.lines.join('\n'),
    filetype: res.filetype,
    file,
    diagnostics: formatDiagnostics(file, res.diagnostics),
  };
}
