/**
 * Validation of what a plugin file exports. The worker sends a description
 * of its default export (functions replaced by a marker); these schemas check
 * it and name the file and the field that is wrong.
 */
import { z } from 'zod';
import { RuneError } from '../core/errors.js';

const FN = '[function]';
const fn = z.literal(FN, { error: 'must be a function' });
const optFn = fn.optional();

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const TOOL = /^[A-Za-z0-9._-]{1,128}$/;

export const toolSpecSchema = z.object({
  name: z.string().regex(TOOL, 'must use letters, digits, "_", "-" or "." (at most 128)'),
  description: z.string().min(1, 'must describe the tool'),
  inputSchema: z
    .looseObject({
      type: z.literal('object', { error: 'must be "object"' }),
      properties: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
      required: z.array(z.string()).optional(),
    })
    .optional(),
  annotations: z
    .object({
      readOnlyHint: z.boolean().optional(),
      destructiveHint: z.boolean().optional(),
      title: z.string().optional(),
    })
    .optional(),
  timeoutMs: z.number().int().positive().optional(),
  handler: fn,
});

export const providerSpecSchema = z
  .object({
    id: z.string().regex(ID, 'must be lowercase letters, digits, "-", "_" or "."'),
    chat: optFn,
    complete: optFn,
    models: optFn,
  })
  .refine((p) => p.chat || p.complete, { message: 'needs chat() or complete()' });

export const commandSpecSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must use letters, digits, "_" or "-"'),
  description: z.string().optional(),
  run: fn,
});

export const manifestSchema = z.object({
  id: z
    .string({ error: 'is required (a string)' })
    .regex(ID, 'must be lowercase letters, digits, "-", "_" or "." (at most 64)'),
  version: z.string({ error: 'is required (a string such as "1.0.0")' }).min(1),
  capabilities: z.array(z.enum(['exec', 'network', 'fs-write'])).optional(),
  /** Environment variables the plugin may read (its process sees no others). */
  env: z
    .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be environment variable names'))
    .optional(),
  dependsOn: z.array(z.string().regex(ID, 'must be a plugin id')).optional(),
  initialize: optFn,
  shutdown: optFn,
  tools: z.array(toolSpecSchema).optional(),
  providers: z.array(providerSpecSchema).optional(),
  commands: z.array(commandSpecSchema).optional(),
});

export type Manifest = z.infer<typeof manifestSchema>;
export type ToolSpec = z.infer<typeof toolSpecSchema>;
export type ProviderSpec = z.infer<typeof providerSpecSchema>;
export type CommandSpec = z.infer<typeof commandSpecSchema>;

/** A plugin file or its definition is invalid; the message names the file and field. */
export class PluginError extends RuneError {
  constructor(
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('plugin', `plugin ${file}: ${message}`, options);
  }
}

/** Checks `value` against `schema`; throws PluginError naming `file` and the first bad field. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, file: string, prefix = ''): T {
  if (value === null || typeof value !== 'object') {
    throw new PluginError(
      file,
      'the default export must be an object (export default definePlugin({ id, version, … }))',
    );
  }
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  const shown = field ? `field "${field}" ${issue.message}` : issue.message;
  throw new PluginError(file, shown);
}
