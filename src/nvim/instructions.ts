/**
 * Project instructions for the system prompt: the first of AGENTS.md, CLAUDE.md,
 * .rune/instructions.md at the project root that the user trusts. Lua reads the
 * file through Neovim's trust check (lua/rune/instructions.lua); this side cuts it
 * to the budget and words it for the model.
 */
import type { NeovimClient } from 'neovim';
import { execLua } from './chat/lua.js';

/** At most this many characters of instructions are sent. */
export const MAX_INSTRUCTIONS_CHARS = 16_000;

export interface ProjectInstructions {
  /** The file's name, relative to the root (shown in the chat header). */
  name: string;
  /** The text for the system prompt. */
  system: string;
}

export async function projectInstructions(
  nvim: NeovimClient,
  root: string,
): Promise<ProjectInstructions | undefined> {
  const res = await execLua<{ name: string; text: string } | null>(
    nvim,
    'return require("rune.instructions").read(...)',
    [root],
  );
  if (!res) return undefined;
  const text =
    res.text.length > MAX_INSTRUCTIONS_CHARS
      ? `${res.text.slice(0, MAX_INSTRUCTIONS_CHARS)}\n… (cut: ${res.text.length - MAX_INSTRUCTIONS_CHARS} more characters not sent)`
      : res.text;
  return {
    name: res.name,
    system: `The project's instructions (${res.name}), from its maintainers; follow them:\n<instructions>\n${text.trimEnd()}\n</instructions>`,
  };
}
