import { z } from 'zod';
import { luaMap, parseSection } from '../../core/config.js';
import { keySchema } from '../chat/controller.js';

const count = (max: number) => z.number().int().min(0).max(max);

/**
 * The `completion` section of setup() (`:help rune-completion`). Lua reads the
 * keys, filetypes and max_file_bytes; the host the request options.
 */
export const completionConfigSchema = z.object({
  enabled: z.boolean().default(true).describe('Offer ghost-text completion in Insert mode'),
  debounce_ms: count(5000).default(150).describe('Quiet time after a keystroke before asking, ms'),
  provider: z
    .string()
    .min(1)
    .optional()
    .describe('Provider for completion (default: default_provider, or the first configured)'),
  model: z.string().min(1).optional().describe("Model for completion (default: the provider's)"),
  filetypes: luaMap(z.boolean())
    .default({ '*': true, help: false, gitcommit: false, gitrebase: false })
    .describe("Filetypes to complete in; `['*']` is the default for the others"),
  max_file_bytes: z
    .number()
    .int()
    .min(0)
    .default(2_000_000)
    .describe('Off for files bigger than this, bytes'),
  prefix_lines: count(10000).default(120).describe('Lines before the cursor sent along'),
  suffix_lines: count(10000).default(40).describe('Lines after the cursor sent along'),
  max_prefix_chars: count(1_000_000)
    .default(6000)
    .describe('Characters before the cursor sent at most'),
  max_suffix_chars: count(1_000_000)
    .default(2000)
    .describe('Characters after the cursor sent at most'),
  max_tokens: z
    .number()
    .int()
    .min(1)
    .max(32768)
    .default(128)
    .describe('Longest suggestion, tokens'),
  temperature: z
    .number()
    .min(0)
    .max(2)
    .optional()
    .describe("Sampling temperature (default: the provider's)"),
  stop: z.array(z.string()).optional().describe("Stop sequences (default: the provider's)"),
  suggestions: z
    .number()
    .int()
    .min(1)
    .max(10)
    .default(1)
    .describe('Suggestions to ask for (cycle with keys.next / keys.prev)'),
  cache_entries: count(10000).default(64).describe('Answers remembered for positions seen before'),
  context_buffers: z
    .object({
      enabled: z
        .boolean()
        .default(false)
        .describe('Send snippets of other open buffers of the same filetype and your last yanks'),
      max_buffers: count(20).default(3).describe('Other buffers sent at most'),
      lines: count(1000)
        .default(40)
        .describe("Lines around each buffer's last cursor position (and of each yank)"),
      max_chars: count(100_000).default(2000).describe('Characters sent in all, at most'),
      yanks: count(20).default(3).describe('Last yanks sent'),
      edits: count(20)
        .default(3)
        .describe('Regions you edited lately (in any buffer) sent, newest first'),
    })
    .prefault({})
    .describe('Snippets of other buffers sent with the code around the cursor'),
  keys: z
    .object({
      accept: keySchema('<Tab>', 'Accept the suggestion'),
      accept_word: keySchema('<M-w>', 'Accept its next word'),
      accept_line: keySchema('<M-l>', 'Accept its next line'),
      next: keySchema('<M-]>', 'Show the next suggestion'),
      prev: keySchema('<M-[>', 'Show the previous suggestion'),
      dismiss: keySchema('<C-]>', 'Dismiss the suggestion'),
    })
    .prefault({})
    .describe('Insert-mode keys'),
});

export type CompletionConfig = z.output<typeof completionConfigSchema>;

/** Parses the `completion` section; throws ConfigError naming the bad key. */
export function parseCompletionConfig(raw: unknown): CompletionConfig {
  return parseSection('completion', completionConfigSchema, raw);
}
