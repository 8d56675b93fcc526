/**
 * The editor tools: typed tools over the Editor port. Lines are 1-based and
 * inclusive in `start_line`/`end_line`; `range` objects are LSP-style
 * (0-based line and character). File paths stay inside the workspace roots.
 *
 * One module per job: read.ts (buffers, cursor, selection, diagnostics,
 * search), edit.ts (reviewed changes, save), fs.ts (files on disk), lsp.ts
 * (language servers), raw.ts (raw Ex and Lua, opt-in); kit.ts is what they share.
 */
import { DisposableStore, type Disposable } from '../../core/disposable.js';
import type { Editor } from '../editor.js';
import type { ToolRegistry } from '../registry.js';
import { registerEditTools } from './edit.js';
import { registerFsTools } from './fs.js';
import { editorKit, RO } from './kit.js';
import { registerLspTools } from './lsp.js';
import { registerRawTools } from './raw.js';
import { registerReadTools } from './read.js';

export { PAGE_LINES } from './kit.js';

export interface EditorToolOptions {
  /** Also register `nvim_command` and `nvim_lua` (raw Ex and Lua). Off unless the user turns it on. */
  unsafe?: boolean;
  /**
   * Also register zeke's tool names (`fs.read`, `fs.write`, `fs.list`, `diff.apply`,
   * `diff.generate`, `ping`).
   */
  zekeAliases?: boolean;
}

export function registerEditorTools(
  registry: ToolRegistry,
  editor: Editor,
  opts: EditorToolOptions = {},
): Disposable {
  const store = new DisposableStore();
  const kit = editorKit(editor);
  const zeke = opts.zekeAliases !== false;
  const all = [
    ...registerReadTools(registry, kit),
    ...registerEditTools(registry, kit, zeke),
    ...registerFsTools(registry, kit, zeke),
    ...registerLspTools(registry, kit),
  ];
  if (zeke) {
    all.push(
      registry.register({
        name: 'ping',
        description: "Answers pong: zeke's check that the MCP server is there.",
        inputSchema: {},
        annotations: RO,
        handler: () => 'pong',
      }),
    );
  }
  if (opts.unsafe) all.push(...registerRawTools(registry, kit));
  for (const d of all) store.add(d);
  return store;
}
