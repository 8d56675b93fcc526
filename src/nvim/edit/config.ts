import { z } from 'zod';
import { keySchema } from '../chat/controller.js';

/**
 * The `edit` section of setup() (`:help rune-edit`), read by lua/rune/edit.lua.
 * :RuneEdit's provider, model and limits come from the `chat` section.
 */
export const editConfigSchema = z.object({
  context_lines: z
    .number()
    .int()
    .min(0)
    .default(20)
    .describe('Lines around the edited ones sent as context'),
  keys: z
    .object({
      accept: keySchema('ga', 'Accept the change under the cursor'),
      reject: keySchema('gr', 'Reject the change under the cursor'),
      accept_all: keySchema('gA', 'Accept every change'),
      reject_all: keySchema('gR', 'Reject every change'),
      next: keySchema(']h', 'Go to the next change'),
      prev: keySchema('[h', 'Go to the previous change'),
      stop: keySchema('<C-c>', 'Stop the edit'),
    })
    .prefault({})
    .describe('Review keys of the edited buffer'),
});
