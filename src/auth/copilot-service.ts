import type { Logger } from '../core/log.js';
import { CopilotLanguageServer, type CopilotServerOptions } from './copilot-ls.js';

/**
 * One Copilot language server per configuration, shared by the Copilot
 * provider and `:RuneAuth copilot`: started on first use, started again
 * after it dies, stopped with `dispose()`.
 */
export class CopilotServerHandle {
  private server: CopilotLanguageServer | undefined;
  private starting: Promise<CopilotLanguageServer> | undefined;

  constructor(readonly options: CopilotServerOptions) {}

  /** The running server, starting it when needed. */
  get(): Promise<CopilotLanguageServer> {
    if (this.server?.alive) return Promise.resolve(this.server);
    this.starting ??= CopilotLanguageServer.start(this.options)
      .then((s) => {
        this.server = s;
        return s;
      })
      .finally(() => {
        this.starting = undefined;
      });
    return this.starting;
  }

  /** The server if it is running now; never starts one. */
  peek(): CopilotLanguageServer | undefined {
    return this.server?.alive ? this.server : undefined;
  }

  async dispose(): Promise<void> {
    const s = this.server ?? (await this.starting?.catch(() => undefined));
    this.server = undefined;
    await s?.dispose();
  }
}

const shared = new Map<string, CopilotServerHandle>();

/**
 * The shared handle for these options. Only what changes the server's behaviour is
 * part of the identity (where it is, its settings, its environment, the request
 * spacing), so the provider and `:RuneAuth` share one process.
 */
export function sharedCopilotServer(
  options: CopilotServerOptions & { logger?: Logger },
): CopilotServerHandle {
  const key = stable({
    server: options.server,
    node: options.node,
    roots: options.roots,
    env: options.env,
    settings: options.settings,
    minIntervalMs: options.minIntervalMs,
  });
  let h = shared.get(key);
  if (!h) {
    h = new CopilotServerHandle(options);
    shared.set(key, h);
  }
  return h;
}

const stopping = new Set<Promise<void>>();

/** Stops every shared server (host shutdown); also waits for stops already under way. */
export async function disposeSharedCopilotServers(): Promise<void> {
  const all = [...shared.values()];
  shared.clear();
  for (const h of all) {
    const p = h.dispose().finally(() => stopping.delete(p));
    stopping.add(p);
  }
  await Promise.all([...stopping]);
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${stable(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
