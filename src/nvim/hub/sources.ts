/**
 * Where the hub's servers come from: the config files (a project's only once trusted) and
 * setup()'s `mcp.servers`. A file saved with a mistake keeps its last good servers running
 * until it is fixed; each mistake is told once (and again if it comes back after a fix).
 */
import * as path from 'node:path';
import type { ConfigError } from '../../core/errors.js';
import { toRuneError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { mergeServers, parseConfigText, type ServerConfig } from '../../mcp/hub/config.js';
import { loadServers } from '../../mcp/hub/loader.js';
import type { ReadyHost } from '../host.js';
import { execLua } from '../chat/lua.js';

export type Notify = (msg: string, level?: 'INFO' | 'WARN' | 'ERROR') => Promise<unknown>;

export class ServerSources {
  /** Project files skipped because their content is not trusted (or denied): file → state. */
  readonly untrusted = new Map<string, string>();
  private readonly reported = new Set<string>();
  private readonly lastGood = new Map<string, ServerConfig[]>();

  constructor(
    private readonly host: ReadyHost,
    private readonly opts: {
      files: string[];
      cwd: string;
      configHome: string;
      /** setup()'s `mcp.servers`. */
      servers: Record<string, unknown>;
      /** What `${env:VAR}` placeholders see. */
      vars: NodeJS.ProcessEnv;
      logger: Logger;
      notify: Notify;
      /** Trust reads made in the handshake, by file; each is used once. */
      early?: Map<string, { state: 'trusted' | 'untrusted' | 'denied' | 'missing'; text?: string }>;
    },
  ) {}

  /** Reads every source and returns the merged list of servers. */
  async read(): Promise<ServerConfig[]> {
    const { files, cwd, configHome, vars, logger, notify } = this.opts;
    const lists: ServerConfig[][] = [];
    const errors: ConfigError[] = [];
    const notices: { msg: string; level: 'WARN' | 'ERROR' }[] = [];
    for (const file of files) {
      if (isProjectFile(file, cwd, configHome)) {
        // Used only as trusted: an edited file stops its servers until trusted again.
        const t = this.opts.early?.get(file) ?? (await readTrusted(this.host, file));
        this.opts.early?.delete(file);
        this.lastGood.delete(file);
        this.untrusted.delete(file);
        if (t.state === 'trusted') {
          try {
            lists.push(parseConfigText(t.text ?? '', file, {}, 'project'));
          } catch (err) {
            notices.push({
              msg: `MCP hub: ${toRuneError(err).message}. Its servers are stopped; fix it, save, and :trust it again.`,
              level: 'ERROR',
            });
          }
        } else if (t.state !== 'missing') {
          this.untrusted.set(file, t.state);
          notices.push({
            msg:
              t.state === 'denied'
                ? `MCP hub: skipped ${file}: you denied this project file (:trust ++remove ${file} to forget that).`
                : `MCP hub: skipped ${file}: a project's file is used only once you trust its content. Read it (:edit ${file}) and run :trust; it is picked up at once.`,
            level: 'WARN',
          });
        }
        continue;
      }
      const r = loadServers([file], {}, vars);
      if (r.errors.length) {
        errors.push(...r.errors);
        lists.push(this.lastGood.get(file) ?? []);
      } else {
        this.lastGood.set(file, r.servers);
        lists.push(r.servers);
      }
    }
    const own = loadServers([], this.opts.servers, vars);
    errors.push(...own.errors);
    lists.push(own.servers);
    for (const e of errors) {
      if (this.reported.has(e.message)) continue;
      this.reported.add(e.message);
      logger.warn('bad mcp server config', { error: e.message });
      await notify(
        `MCP hub: ${e.message}. Fix it and save: the file is read again on change (its servers keep running meanwhile).`,
        'ERROR',
      );
    }
    for (const n of notices) {
      if (this.reported.has(n.msg)) continue;
      this.reported.add(n.msg);
      logger.warn('project mcp server file not used', { notice: n.msg });
      await notify(n.msg, n.level);
    }
    // A file that was fixed may break again later: report that again too.
    for (const m of [...this.reported]) {
      if (!errors.some((e) => e.message === m) && !notices.some((n) => n.msg === m)) {
        this.reported.delete(m);
      }
    }
    return mergeServers(...lists);
  }
}

/**
 * A file from the working tree (any file under Neovim's folder except the
 * user's global one): used only once trusted, and it can never weaken a
 * user setting. A file the user named outside the working tree is theirs.
 */
export function isProjectFile(file: string, cwd: string, configHome: string): boolean {
  const rel = path.relative(cwd, file);
  const inTree = rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  return inTree && path.resolve(file) !== path.join(configHome, 'rune', 'mcp.json');
}

/** The trust state and (when trusted) the content of a project file, from lua/rune/trust.lua. */
export async function readTrusted(
  host: ReadyHost,
  file: string,
): Promise<{ state: 'trusted' | 'untrusted' | 'denied' | 'missing'; text?: string }> {
  const r = await execLua<{ state: string; text?: string | null }>(
    host.nvim,
    'return require("rune.trust").read(...)',
    [file],
  );
  const state =
    r.state === 'trusted' || r.state === 'denied' || r.state === 'missing' ? r.state : 'untrusted';
  return typeof r.text === 'string' ? { state, text: r.text } : { state };
}
