/**
 * Reads MCP server definitions in the formats users already have:
 *
 * - Claude Desktop / Claude Code (`.mcp.json`): `{ "mcpServers": { name: {...} } }`
 * - VS Code (`.vscode/mcp.json`): `{ "servers": { name: { "type": ..., ... } } }`
 * - mcphub.nvim's servers.json: `mcpServers` plus `disabled`, `disabled_tools`,
 *   `autoApprove` per server.
 *
 * A server is either stdio (`command`, `args`, `env`, `cwd`) or remote (`url`,
 * `headers`, and `type` "http" | "sse" when the user wants to pin the
 * transport). `${env:VAR}` and `${VAR}` placeholders are expanded in strings
 * of the user's own files only. A bad file fails with an error naming the
 * file and the key.
 *
 * A project's file (read only once the user trusted its content) can never
 * weaken the user's settings: its `autoApprove` is ignored, `"sandbox": false`
 * is ignored, its sandbox may only name writable folders inside the
 * workspace, and a `${env:…}` placeholder is an error rather than a way to
 * send the user's secrets to a server the repository chose.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

const stringMap = z.record(z.string(), z.string());

const serverSchema = z
  .object({
    type: z.enum(['stdio', 'http', 'sse', 'streamableHttp', 'streamable-http']).optional(),
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: stringMap.optional(),
    cwd: z.string().optional(),
    url: z.url().optional(),
    headers: stringMap.optional(),
    disabled: z.boolean().optional(),
    disabled_tools: z.array(z.string()).optional(),
    autoApprove: z.union([z.boolean(), z.array(z.string())]).optional(),
    oauth: z
      .union([
        z.boolean(),
        z
          .object({
            client_id: z.string().min(1).optional(),
            client_secret: z.string().min(1).optional(),
            scope: z.string().min(1).optional(),
          })
          .strict(),
      ])
      .optional(),
    sandbox: z
      .union([
        z.boolean(),
        z
          .object({
            network: z.boolean().optional(),
            writable: z.array(z.string().min(1)).optional(),
          })
          .strict(),
      ])
      .optional(),
  })
  .loose()
  .superRefine((s, ctx) => {
    if (!s.command && !s.url) {
      ctx.addIssue({ code: 'custom', message: 'needs either "command" (stdio) or "url" (HTTP)' });
    }
    if (s.command && s.url) {
      ctx.addIssue({ code: 'custom', message: 'has both "command" and "url"; keep one' });
    }
  });

const fileSchema = z
  .object({
    mcpServers: z.record(z.string(), z.unknown()).optional(),
    servers: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();

export type Transport = 'stdio' | 'http' | 'sse';

/** One MCP server as the hub uses it, after merging and expansion. */
export interface ServerConfig {
  name: string;
  transport: Transport | 'auto';
  command?: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  url?: string;
  headers: Record<string, string>;
  disabled: boolean;
  disabledTools: string[];
  /** `true` approves every tool of this server; a list approves those tools. */
  autoApprove: boolean | string[];
  /**
   * OAuth sign-in for a remote server (`"oauth": true`, or an object with a
   * pre-registered `client_id`/`client_secret` and a `scope`); undefined: none.
   */
  oauth?: { clientId?: string; clientSecret?: string; scope?: string };
  /**
   * Run a stdio server in the bubblewrap sandbox: `true`, `false`, or
   * `{ network, writable }`; undefined follows `mcp.hub.sandbox`.
   */
  sandbox?: boolean | { network?: boolean; writable?: string[] };
  /** Where it was defined, for error messages and :RuneMcp. */
  source: string;
}

const PLACEHOLDER = /\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Whose file a definition comes from: the user's own (setup(), the global
 * file, a file they named) or a project's, which may not weaken anything.
 */
export type ConfigOrigin = 'user' | 'project';

/** The environment as a project file sees it: no variable at all. */
const PROJECT_ENV: NodeJS.ProcessEnv = Object.freeze({}) as NodeJS.ProcessEnv;

function expand(value: string, env: NodeJS.ProcessEnv, where: string): string {
  if (env === PROJECT_ENV) {
    const m = new RegExp(PLACEHOLDER.source).exec(value);
    if (m) {
      throw new ConfigError(
        where,
        `uses \${env:${m[1]}}, but a project's file cannot read your environment; ` +
          'define this server in your own config (mcp.servers in setup() or ~/.config/rune/mcp.json)',
      );
    }
    return value;
  }
  return value.replace(PLACEHOLDER, (_m, name: string) => {
    const v = env[name];
    if (v === undefined) {
      throw new ConfigError(
        where,
        `uses \${env:${name}} but ${name} is not set in the environment`,
      );
    }
    return v;
  });
}

function expandMap(m: Record<string, string> | undefined, env: NodeJS.ProcessEnv, where: string) {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(m ?? {})) out[k] = expand(v, env, `${where}.${k}`);
  return out;
}

function issuePath(base: string, path: readonly PropertyKey[]): string {
  return [base, ...path.map(String)].filter(Boolean).join('.');
}

/** Parses one server entry; `where` names it in errors (`file: mcpServers.github`). */
export function parseServer(
  name: string,
  raw: unknown,
  source: string,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
  origin: ConfigOrigin = 'user',
): ServerConfig {
  const parsed = serverSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(issuePath(where, issue.path), issue.message);
  }
  const s = origin === 'project' ? withoutWeakening(parsed.data) : parsed.data;
  if (origin === 'project') env = PROJECT_ENV;
  let transport: ServerConfig['transport'] = s.command ? 'stdio' : 'auto';
  if (s.type === 'sse') transport = 'sse';
  else if (s.type && s.type !== 'stdio') transport = 'http';
  if (s.oauth && s.command) {
    throw new ConfigError(`${where}.oauth`, 'applies to remote (url) servers only');
  }
  if (s.sandbox !== undefined && s.url) {
    throw new ConfigError(`${where}.sandbox`, 'applies to stdio (command) servers only');
  }
  if (s.type === 'stdio' && !s.command) {
    throw new ConfigError(`${where}.command`, 'is required for a stdio server');
  }
  return {
    name,
    transport,
    command: s.command && expand(s.command, env, `${where}.command`),
    args: (s.args ?? []).map((a, i) => expand(a, env, `${where}.args.${i}`)),
    env: expandMap(s.env, env, `${where}.env`),
    cwd: s.cwd && expand(s.cwd, env, `${where}.cwd`),
    url: s.url && expand(s.url, env, `${where}.url`),
    headers: expandMap(s.headers, env, `${where}.headers`),
    disabled: s.disabled ?? false,
    disabledTools: s.disabled_tools ?? [],
    autoApprove: s.autoApprove ?? false,
    ...(s.oauth && !s.command
      ? {
          oauth: {
            ...(s.oauth !== true && s.oauth.client_id
              ? { clientId: expand(s.oauth.client_id, env, `${where}.oauth.client_id`) }
              : {}),
            ...(s.oauth !== true && s.oauth.client_secret
              ? {
                  clientSecret: expand(s.oauth.client_secret, env, `${where}.oauth.client_secret`),
                }
              : {}),
            ...(s.oauth !== true && s.oauth.scope ? { scope: s.oauth.scope } : {}),
          },
        }
      : {}),
    ...(s.sandbox !== undefined && s.command
      ? {
          sandbox:
            typeof s.sandbox === 'boolean'
              ? s.sandbox
              : {
                  ...(s.sandbox.network !== undefined ? { network: s.sandbox.network } : {}),
                  ...(s.sandbox.writable
                    ? {
                        writable: s.sandbox.writable.map((w, i) =>
                          expand(w, env, `${where}.sandbox.writable.${i}`),
                        ),
                      }
                    : {}),
                },
        }
      : {}),
    source,
  };
}

type ServerEntry = z.infer<typeof serverSchema>;

/** A project's entry with what could weaken the user's settings taken out. */
function withoutWeakening(s: ServerEntry): ServerEntry {
  const { autoApprove: _ignored, sandbox, ...rest } = s;
  if (sandbox === undefined || sandbox === false) return rest;
  if (sandbox === true) return { ...rest, sandbox };
  const writable = (sandbox.writable ?? []).filter(
    (w) => !w.startsWith('/') && !w.startsWith('~') && !w.split(/[\\/]+/).includes('..'),
  );
  return {
    ...rest,
    sandbox: {
      ...(sandbox.network === false ? { network: false } : {}),
      ...(writable.length ? { writable } : {}),
    },
  };
}

/** Parses a config file's text; errors name the file and key. */
export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  origin: ConfigOrigin = 'user',
): ServerConfig[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, `is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${file}: ${issuePath('', issue.path)}`, issue.message);
  }
  const out: ServerConfig[] = [];
  for (const key of ['mcpServers', 'servers'] as const) {
    for (const [name, raw] of Object.entries(parsed.data[key] ?? {})) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) {
        throw new ConfigError(
          `${file}: ${key}.${name}`,
          'server names may use letters, digits, "_" and "-" (at most 64)',
        );
      }
      out.push(parseServer(name, raw, file, `${file}: ${key}.${name}`, env, origin));
    }
  }
  return out;
}

/** Reads a config file; a missing file is an empty list, a broken one an error. */
export function readConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): ServerConfig[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ConfigError(file, `cannot be read: ${(err as Error).message}`);
  }
  return parseConfigText(text, file, env);
}

/** Merges lists in order: a later definition of a name replaces an earlier one. */
export function mergeServers(...lists: ServerConfig[][]): ServerConfig[] {
  const byName = new Map<string, ServerConfig>();
  for (const list of lists) for (const s of list) byName.set(s.name, s);
  return [...byName.values()];
}

/** Stable identity of a server's connection settings, to tell what changed on reload. */
export function connectionKey(s: ServerConfig): string {
  return JSON.stringify([
    s.transport,
    s.command,
    s.args,
    s.env,
    s.cwd,
    s.url,
    s.headers,
    s.oauth ?? null,
    s.sandbox ?? null,
  ]);
}
