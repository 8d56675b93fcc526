/**
 * What the host knows about the editor, asked once in the handshake
 * (`require('rune')._handshake`, lua/rune/init.lua) together with the config, so
 * that modules starting up send Neovim no request of their own. The working
 * directory is kept current: Lua reports `DirChanged` as `rune.cwd`.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { NeovimClient } from 'neovim';
import { z } from 'zod';

/** A project file's trust state, as lua/rune/trust.lua reads it. */
export interface TrustRead {
  state: 'trusted' | 'untrusted' | 'denied' | 'missing';
  /** The content, when trusted (files only). */
  text?: string;
}

export interface EditorFacts {
  /** Neovim's working directory (`getcwd()`); follows `:cd`. */
  cwd: string;
  /** `stdpath('state')`. */
  readonly state: string;
  /** `v:servername`. */
  readonly server: string;
  /** Neovim's process id. */
  readonly pid: number;
  readonly home: string | null;
  /** `$XDG_CONFIG_HOME`, or `~/.config`. */
  readonly configHome: string;
  /** Neovim's version, e.g. `0.11.2`. */
  readonly version: string;
  /** Neovim's environment (what `${env:VAR}` placeholders see). */
  readonly env: Readonly<Record<string, string>>;
  /** Neovim's trust database (`vim.secure`), for sandboxes that must hide it. */
  readonly trustDb: string | null;
  /** The working directory and the LSP workspace folders, at the handshake. */
  readonly roots: readonly string[];
  /**
   * The trust state of the project files the host asked about (HANDSHAKE_TRUST,
   * relative to the working directory at the handshake), by absolute path. A later
   * read must ask again: the file or the trust database may have changed.
   */
  readonly trust: Readonly<Record<string, TrustRead>>;
}

/** Project files whose trust decides what starts: project plugins and the hub's project files. */
export const HANDSHAKE_TRUST = [
  path.join('.rune', 'plugins'),
  path.join('.vscode', 'mcp.json'),
  '.mcp.json',
  path.join('.rune', 'mcp.json'),
] as const;

const nil = <T extends z.ZodType>(t: T) => z.preprocess((v) => (v === null ? undefined : v), t);

const trustSchema = z.object({
  state: z.string(),
  text: nil(z.string().optional()),
});

const factsSchema = z.object({
  cwd: z.string(),
  state: z.string(),
  server: nil(z.string().default('')),
  pid: z.number(),
  home: nil(z.string().optional()),
  config_home: nil(z.string().optional()),
  xdg: nil(z.string().optional()),
  version: z.string(),
  env: nil(z.record(z.string(), z.string()).default({})),
  trust_db: nil(z.string().optional()),
  roots: nil(z.array(z.string()).default([])),
  trust: nil(z.record(z.string(), trustSchema).default({})),
});

/** The handshake's answer: `{ config, facts }`. */
export interface Handshake {
  config: Record<string, unknown>;
  facts: EditorFacts;
}

/** Reads the handshake's answer; a malformed one means the Lua layer and the host disagree. */
export function parseHandshake(raw: unknown): Handshake {
  const r = raw as { config?: unknown; facts?: unknown } | null;
  const config = r?.config;
  const parsed = factsSchema.safeParse(r?.facts);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the Lua layer's handshake lacks ${issue?.path.join('.') || 'its facts'} (${issue?.message ?? 'invalid'}); ` +
        'the Lua files and the host are from different versions: update Rune and restart Neovim',
    );
  }
  const f = parsed.data;
  const home = f.home ?? null;
  const trust: Record<string, TrustRead> = {};
  for (const [rel, v] of Object.entries(f.trust)) trust[path.join(f.cwd, rel)] = trustRead(v);
  return {
    config:
      typeof config === 'object' && config !== null && !Array.isArray(config)
        ? (config as Record<string, unknown>)
        : {},
    facts: {
      cwd: f.cwd,
      state: f.state,
      server: f.server,
      pid: f.pid,
      home,
      configHome: f.config_home ?? f.xdg ?? path.join(home ?? os.homedir(), '.config'),
      version: f.version,
      env: f.env,
      trustDb: f.trust_db ?? null,
      roots: f.roots.length ? f.roots : [f.cwd],
      trust,
    },
  };
}

function trustRead(r: { state: string; text?: string | null | undefined }): TrustRead {
  const state =
    r.state === 'trusted' || r.state === 'denied' || r.state === 'missing' ? r.state : 'untrusted';
  return typeof r.text === 'string' ? { state, text: r.text } : { state };
}

/** Reads a project file's trust state now (lua/rune/trust.lua), e.g. after it changed. */
export async function readTrust(nvim: NeovimClient, file: string): Promise<TrustRead> {
  const r = (await nvim.request('nvim_exec_lua', [
    'return require("rune.trust").read(...)',
    [file],
  ])) as { state: string; text?: string | null };
  return trustRead(r);
}
