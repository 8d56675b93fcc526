/**
 * Raw Ex and Lua (`nvim_command`, `nvim_lua`): registered only when the user
 * turns on `mcp.tools.unsafe`, and every call asks first.
 */
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import { jsonResult, type ToolRegistry } from '../registry.js';
import type { EditorKit } from './kit.js';

export function registerRawTools(registry: ToolRegistry, kit: EditorKit): Disposable[] {
  const { editor } = kit;
  return [
    registry.register({
      name: 'nvim_command',
      title: 'Run an Ex command',
      description:
        'Runs a raw Ex command in Neovim and returns its output. Enabled by mcp.tools.unsafe.',
      inputSchema: { command: z.string().min(1) },
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
      approval: 'ask',
      handler: async (args) => editor.command(args.command),
    }),
    registry.register({
      name: 'nvim_lua',
      title: 'Run Lua',
      description:
        'Runs a Lua chunk in Neovim and returns its value as JSON. Enabled by mcp.tools.unsafe.',
      inputSchema: { code: z.string().min(1) },
      annotations: { readOnlyHint: false, destructiveHint: true, openWorldHint: true },
      approval: 'ask',
      handler: async (args) => jsonResult({ value: (await editor.lua(args.code)) ?? null }),
    }),
  ];
}
