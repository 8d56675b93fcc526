import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

const count = (max: number) => z.number().int().min(0).max(max);

/**
 * The `completion` section as the host uses it. Lua validates the same keys at
 * `setup()` (lua/rune/config.lua) and owns the ones only Lua reads (keys,
 * filetypes, max_file_bytes); they pass through here untouched.
 */
const schema = z
  .object({
    enabled: z.boolean().default(true),
    debounce_ms: count(5000).default(150),
    provider: z.string().min(1).nullish(),
    model: z.string().min(1).nullish(),
    prefix_lines: count(10000).default(120),
    suffix_lines: count(10000).default(40),
    max_prefix_chars: count(1_000_000).default(6000),
    max_suffix_chars: count(1_000_000).default(2000),
    max_tokens: z.number().int().min(1).max(32768).default(128),
    temperature: z.number().min(0).max(2).nullish(),
    stop: z.array(z.string()).nullish(),
    suggestions: z.number().int().min(1).max(10).default(1),
    cache_entries: count(10000).default(64),
    context_buffers: z
      .object({
        enabled: z.boolean().default(false),
        max_buffers: count(20).default(3),
        lines: count(1000).default(40),
        max_chars: count(100_000).default(2000),
        yanks: count(20).default(3),
        edits: count(20).default(3),
      })
      .loose()
      .default({
        enabled: false,
        max_buffers: 3,
        lines: 40,
        max_chars: 2000,
        yanks: 3,
        edits: 3,
      }),
  })
  .loose();

export type CompletionConfig = z.infer<typeof schema>;

/** Parses the `completion` section; throws ConfigError naming the bad key. */
export function parseCompletionConfig(raw: unknown): CompletionConfig {
  // Lua sends nil values inside tables as msgpack nil (null), and an empty Lua table as [].
  const input = raw === undefined || raw === null || Array.isArray(raw) ? {} : raw;
  const r = schema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = ['completion', ...issue.path.map(String)].join('.');
    throw new ConfigError(path, issue.message);
  }
  return r.data;
}
