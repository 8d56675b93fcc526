/** Tools that ask the buffer's attached language servers: symbols and definitions. */
import { z } from 'zod';
import type { Disposable } from '../../core/disposable.js';
import { jsonResult, type ToolRegistry } from '../registry.js';
import { bufferRef, RO, type EditorKit } from './kit.js';

export function registerLspTools(registry: ToolRegistry, kit: EditorKit): Disposable[] {
  const { editor, withReadBuffer } = kit;
  return [
    registry.register({
      name: 'lsp_symbols',
      title: 'Document symbols',
      description: 'Symbols of a buffer from its attached language servers.',
      inputSchema: { buffer: bufferRef },
      annotations: RO,
      handler: (args) =>
        withReadBuffer(args.buffer, async (buf) =>
          jsonResult({ symbols: await editor.symbols(buf.id) }),
        ),
    }),

    registry.register({
      name: 'lsp_definition',
      title: 'Go to definition',
      description:
        'Where the symbol at a 0-based position is defined, from the attached language servers.',
      inputSchema: {
        buffer: bufferRef,
        line: z.number().int().min(0),
        character: z.number().int().min(0),
      },
      annotations: RO,
      handler: (args) =>
        withReadBuffer(args.buffer, async (buf) =>
          jsonResult({
            locations: await editor.definition(buf.id, {
              line: args.line,
              character: args.character,
            }),
          }),
        ),
    }),
  ];
}
