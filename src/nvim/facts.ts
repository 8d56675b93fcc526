/**
 * What the host knows about the editor, asked once in the handshake
 * (`require('rune')._handshake`, lua/rune/init.lua) together with the config, so
 * that modules starting up send Neovim no request of their own. The working
 * directory is kept current: Lua reports `DirChanged` as `rune.cwd`.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { NeovimClient } from 'neovim';

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

/**
 * The facts as lua/rune/init.lua sends them. Read by hand, not with a schema library: the
 * handshake is on the path to ready, and loading one costs more than the whole check.
 */
interface RawFacts {
  cwd: string;
  state: string;
  server: string;
  pid: number;
  home?: string;
  config_home?: string;
  xdg?: string;
  version: string;
  env: Record<string, string>;
  trust_db?: string;
  roots: string[];
  trust: Record<string, { state: string; text?: string }>;
}

/** Thrown by readFacts: the first field that is missing or of the wrong type. */
class BadFact extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function readFacts(raw: unknown): RawFacts {
  if (!isRecord(raw)) throw new BadFact('', 'expected an object');
  // Lua's nil arrives as null (or not at all): both mean "not given".
  const get = (k: string): unknown => (raw[k] === null ? undefined : raw[k]);
  const str = (k: string): string => {
    const v = get(k);
    if (typeof v !== 'string') throw new BadFact(k, `expected a string, got ${typeof v}`);
    return v;
  };
  const optStr = (k: string): string | undefined => (get(k) === undefined ? undefined : str(k));
  const strings = (k: string, v: unknown): Record<string, string> => {
    if (Array.isArray(v) && v.length === 0) return {};
    if (!isRecord(v)) throw new BadFact(k, 'expected a table of strings');
    for (const [key, x] of Object.entries(v)) {
      if (typeof x !== 'string') throw new BadFact(`${k}.${key}`, 'expected a string');
    }
    return v as Record<string, string>;
  };
  const pid = get('pid');
  if (typeof pid !== 'number') throw new BadFact('pid', `expected a number, got ${typeof pid}`);
  const roots = get('roots') ?? [];
  // An empty Lua table arrives as a map or a list: both are "none".
  const rootList = isRecord(roots) && Object.keys(roots).length === 0 ? [] : roots;
  if (!Array.isArray(rootList) || rootList.some((r) => typeof r !== 'string')) {
    throw new BadFact('roots', 'expected a list of strings');
  }
  const trustIn = get('trust') ?? {};
  if (!isRecord(trustIn)) throw new BadFact('trust', 'expected a table');
  const trust: RawFacts['trust'] = {};
  for (const [rel, v] of Object.entries(trustIn)) {
    if (!isRecord(v) || typeof v.state !== 'string') {
      throw new BadFact(`trust.${rel}.state`, 'expected a string');
    }
    const text = v.text === null ? undefined : v.text;
    if (text !== undefined && typeof text !== 'string') {
      throw new BadFact(`trust.${rel}.text`, 'expected a string');
    }
    trust[rel] = text === undefined ? { state: v.state } : { state: v.state, text };
  }
  const out: RawFacts = {
    cwd: str('cwd'),
    state: str('state'),
    server: optStr('server') ?? '',
    pid,
    version: str('version'),
    env: strings('env', get('env') ?? {}),
    roots: rootList as string[],
    trust,
  };
  for (const k of ['home', 'config_home', 'xdg', 'trust_db'] as const) {
    const v = optStr(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** The handshake's answer: `{ config, facts }`. */
export interface Handshake {
  config: Record<string, unknown>;
  facts: EditorFacts;
}

/** Reads the handshake's answer; a malformed one means the Lua layer and the host disagree. */
export function parseHandshake(raw: unknown): Handshake {
  const r = raw as { config?: unknown; facts?: unknown } | null;
  const config = r?.config;
  let f: RawFacts;
  try {
    f = readFacts(r?.facts);
  } catch (err) {
    const e = err as BadFact;
    throw new Error(
      `the Lua layer's handshake lacks ${e.field || 'its facts'} (${e.message}); ` +
        'the Lua files and the host are from different versions: update Rune and restart Neovim',
    );
  }
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
