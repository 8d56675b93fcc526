/**
 * The whole `setup()` table as one zod schema, composed of the section schemas
 * that live beside the code that reads them. This is the one definition of
 * every option: its type, range, default and description. The build
 * (`scripts/gen-config.mjs`) turns it into lua/rune/config_schema.lua, which
 * lua/rune/config.lua uses to reject a bad option at `setup()`, and into
 * doc/rune-options.txt, the option reference of `:help rune-options`.
 */
import { z } from 'zod';
import { luaMap } from '../core/config.js';
import { authConfigSchema } from '../auth/config.js';
import { hostConfigSchema } from './host-config.js';
import { chatConfigSchema } from './chat/controller.js';
import { editConfigSchema } from './edit/config.js';
import { completionConfigSchema } from './completion/config.js';
import { promptsConfigSchema } from './prompts.js';
import { mcpConfigSchema } from './mcp.js';
import { hubConfigSchema } from './hub/config.js';
import { pluginsConfigSchema } from './plugins.js';
import { telemetryConfigSchema } from './stats.js';

export const configSchema = z.object({
  host: hostConfigSchema.prefault({}).describe('How Neovim starts and restarts the host'),
  providers: luaMap(z.unknown())
    .default({})
    .describe('Providers by name (`:help rune-providers`), checked by the host'),
  default_provider: z
    .string()
    .min(1)
    .optional()
    .describe('Provider used when a feature names none (default: the first configured)'),
  chat: chatConfigSchema.prefault({}).describe(':RuneChat'),
  edit: editConfigSchema.prefault({}).describe(':RuneEdit'),
  prompts: promptsConfigSchema,
  completion: completionConfigSchema.prefault({}).describe('Inline completion'),
  mcp: mcpConfigSchema
    .extend(hubConfigSchema.shape)
    .prefault({})
    .describe('The MCP server for agents, and the MCP hub'),
  plugins: pluginsConfigSchema.prefault({}).describe('Third-party plugins'),
  telemetry: telemetryConfigSchema.prefault({}).describe('Metrics export'),
  auth: authConfigSchema.prefault({}).describe('Secrets and sign-in'),
});

/** One option of the reference, flattened from the schema. */
export interface OptionSpec {
  /** Dotted path, e.g. `completion.debounce_ms`. */
  path: string;
  /** A section holds named options and nothing else; the others are values. */
  section?: true;
  /** Lua types the value may have; `false` stands for the value false alone. */
  types?: string[];
  enum?: string[];
  integer?: true;
  min?: number;
  /** The value must be greater than this. */
  above?: number;
  max?: number;
  /** nil is allowed (the option has no default). */
  optional?: true;
  description?: string;
  default?: unknown;
}

type Def = { type: string; [k: string]: unknown };
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The Lua view of a value schema, unwrapping defaults, optionals and pipes. */
function describeValue(s: z.ZodType, spec: OptionSpec): void {
  const def = defOf(s);
  spec.description ??= s.description;
  switch (def.type) {
    case 'optional':
    case 'nullable':
      spec.optional = true;
      return describeValue(def.innerType as z.ZodType, spec);
    case 'default':
    case 'prefault':
      return describeValue(def.innerType as z.ZodType, spec);
    case 'pipe': {
      // z.preprocess(fn, schema) checks `out`; schema.transform(fn) checks `in`.
      const into = def.in as z.ZodType;
      return describeValue(defOf(into).type === 'transform' ? (def.out as z.ZodType) : into, spec);
    }
    case 'union':
      for (const o of def.options as z.ZodType[]) describeValue(o, spec);
      return;
    case 'enum':
      (spec.types ??= []).push('string');
      spec.enum = Object.values(def.entries as Record<string, string>);
      return;
    case 'literal':
      for (const v of def.values as unknown[]) {
        if (v !== false) throw new Error(`${spec.path}: only the literal false is supported`);
        (spec.types ??= []).push('false');
      }
      return;
    case 'number': {
      (spec.types ??= []).push('number');
      const j = z.toJSONSchema(s) as Record<string, unknown>;
      if (j.type === 'integer') spec.integer = true;
      const limit = (v: unknown) => typeof v === 'number' && Math.abs(v) < Number.MAX_SAFE_INTEGER;
      if (limit(j.minimum)) spec.min = j.minimum as number;
      if (limit(j.exclusiveMinimum)) spec.above = j.exclusiveMinimum as number;
      if (limit(j.maximum)) spec.max = j.maximum as number;
      return;
    }
    case 'string':
    case 'boolean':
      (spec.types ??= []).push(def.type);
      return;
    case 'object':
    case 'record':
    case 'array':
    case 'unknown':
      (spec.types ??= []).push('table');
      return;
    default:
      throw new Error(`${spec.path}: no Lua view for a zod ${def.type}`);
  }
}

/** The object schema inside wrappers, when `s` is a section. */
function sectionOf(s: z.ZodType): z.ZodObject | undefined {
  const def = defOf(s);
  if (def.type === 'object') return s as z.ZodObject;
  if (def.type === 'default' || def.type === 'prefault' || def.type === 'optional')
    return sectionOf(def.innerType as z.ZodType);
  return undefined;
}

/** Every option of `schema` (depth first, in declaration order), sections included. */
export function configOptions(schema: z.ZodObject = configSchema): OptionSpec[] {
  const defaults = schema.parse({}) as Record<string, unknown>;
  const out: OptionSpec[] = [];
  const walk = (obj: z.ZodObject, prefix: string, dflt: Record<string, unknown>) => {
    for (const [key, s] of Object.entries(obj.shape as Record<string, z.ZodType>)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const section = sectionOf(s);
      if (section) {
        if (!s.description) throw new Error(`${path}: the schema gives no description`);
        out.push({ path, section: true, description: s.description });
        walk(section, path, (dflt[key] ?? {}) as Record<string, unknown>);
        continue;
      }
      const spec: OptionSpec = { path };
      describeValue(s, spec);
      spec.types = [...new Set(spec.types)];
      if (dflt[key] !== undefined) spec.default = dflt[key];
      if (!spec.description) throw new Error(`${path}: the schema gives no description`);
      out.push(spec);
    }
  };
  walk(schema, '', defaults);
  return out;
}

const HEADER = 'Generated by scripts/gen-config.mjs from src/nvim/config-schema.ts: do not edit';

/**
 * lua/rune/config_schema.lua: the defaults and the checks of every option, as
 * data (JSON, so the file needs no formatting of its own).
 */
export function renderLuaSchema(schema: z.ZodObject = configSchema): string {
  const all = configOptions(schema);
  const options: Record<string, Omit<OptionSpec, 'path' | 'description' | 'default'>> = {};
  for (const { path, description: _d, default: _v, ...check } of all) options[path] = check;
  const data = { defaults: schema.parse({}), options };
  return [
    `-- ${HEADER}`,
    '-- (run `npm run gen-config`). The defaults and the checks of every option of',
    "-- `require('rune').setup()`, read by lua/rune/config.lua; the classes below",
    '-- let lua-language-server complete and check the options.',
    '',
    ...luaClasses(all),
    `return vim.json.decode([==[${JSON.stringify(data, null, 2)}]==])`,
    '',
  ].join('\n');
}

/** LuaCATS classes of the options: `rune.Config`, and `rune.Config.<section>` for each section. */
function luaClasses(all: readonly OptionSpec[]): string[] {
  const className = (path: string) => (path ? `rune.Config.${path}` : 'rune.Config');
  const luaType = (o: OptionSpec): string => {
    if (o.section) return className(o.path);
    const kinds = (o.types ?? []).map((t) => {
      if (t === 'string' && o.enum) return o.enum.map((e) => `'${e}'`).join('|');
      if (t === 'number' && o.integer) return 'integer';
      return t;
    });
    return kinds.join('|');
  };
  const parentOf = (path: string) => path.slice(0, Math.max(0, path.lastIndexOf('.')));
  const out: string[] = [];
  for (const section of ['', ...all.filter((o) => o.section).map((o) => o.path)]) {
    out.push(`---@class ${className(section)}`);
    for (const o of all.filter((x) => parentOf(x.path) === section)) {
      const name = o.path.slice(section ? section.length + 1 : 0);
      out.push(`---@field ${name}? ${luaType(o)} ${o.description ?? ''}`.trimEnd());
    }
    out.push('');
  }
  return out;
}

const WIDTH = 78;

/** A help tag right-aligned as :help files do. */
const tagLine = (tag: string) => `*${tag}*`.padStart(WIDTH);

/** A value as the user writes it in Lua. */
function luaValue(v: unknown): string {
  if (typeof v === 'string') return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(v)) return v.length === 0 ? '{}' : `{ ${v.map(luaValue).join(', ')} }`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v);
    if (entries.length === 0) return '{}';
    const key = (k: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `['${k}']`);
    return `{ ${entries.map(([k, x]) => `${key(k)} = ${luaValue(x)}`).join(', ')} }`;
  }
  return String(v);
}

function typeText(o: OptionSpec): string {
  const kinds = (o.types ?? []).map((t) => {
    if (t === 'false') return '`false`';
    if (t === 'string' && o.enum) return `one of ${o.enum.map((e) => `\`'${e}'\``).join(', ')}`;
    if (t === 'number' && o.integer) return 'integer';
    return t;
  });
  const range = [
    o.above !== undefined ? `> ${o.above}` : undefined,
    o.min !== undefined ? `≥ ${o.min}` : undefined,
    o.max !== undefined ? `≤ ${o.max}` : undefined,
  ].filter(Boolean);
  return kinds.join(' or ') + (range.length ? ` (${range.join(', ')})` : '');
}

/** Wraps `text` to the help width with `indent`. */
function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && indent.length + line.length + 1 + word.length > WIDTH) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines;
}

/**
 * doc/rune-options.txt: every option with its type, default and description.
 * `tags` are the help tags of the hand-written files; an option whose
 * `rune-config-<path>` tag exists there links to it.
 */
export function renderOptionsDoc(
  tags: ReadonlySet<string>,
  schema: z.ZodObject = configSchema,
): string {
  const out = [
    `*rune-options.txt*  Every option of rune.setup(), with its default`,
    '',
    `${HEADER}.`,
    '',
    'Options are passed to |rune.setup()|; what is not given keeps its default.',
    'A value of the wrong type, out of range or an unknown name is an error at',
    'setup() that names the option. Values that need the host (a provider, a URL)',
    'are checked when the host starts.',
    '',
    '='.repeat(WIDTH),
    'OPTIONS' + '*rune-option-list*'.padStart(WIDTH - 'OPTIONS'.length),
    '',
  ];
  for (const o of configOptions(schema)) {
    const more = tags.has(`rune-config-${o.path}`) ? ` See |rune-config-${o.path}|.` : '';
    if (o.section) {
      out.push(tagLine(`rune-option-${o.path}`), `${o.path} ~`);
      if (o.description) out.push(...wrap(`${o.description}.${more}`, '    '));
      out.push('');
      continue;
    }
    const dflt =
      o.default !== undefined ? `Default: \`${luaValue(o.default)}\`.` : 'Default: none.';
    out.push(tagLine(`rune-option-${o.path}`), o.path);
    out.push(...wrap(`${typeText(o)}. ${dflt}`, '    '));
    out.push(...wrap(`${o.description}.${more}`, '    '), '');
  }
  out.push(' vim:tw=78:ts=8:ft=help:norl:', '');
  return out.join('\n');
}

/** The `*tag*` anchors of help files' texts (the hand-written ones, for links). */
export function handWrittenTags(texts: readonly string[]): Set<string> {
  const tags = new Set<string>();
  for (const text of texts) {
    for (const m of text.matchAll(/(?:^|\s)\*([^*\s|]+)\*(?=\s|$)/gm)) tags.add(m[1]!);
  }
  return tags;
}
