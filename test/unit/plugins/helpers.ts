/** Real plugin files on disk for the plugin tests, and a manager wired to a real ToolRegistry. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createMemoryLogger } from '../../../src/core/log.js';
import { PluginManager, type PluginManagerOptions } from '../../../src/plugins/manager.js';
import { ToolRegistry, type ToolContext } from '../../../src/tools/registry.js';
import type { Provider } from '../../../src/providers/types.js';
import { toDisposable } from '../../../src/core/disposable.js';

let isolation: 'process' | 'thread' = 'process';

/**
 * How the harness runs plugins from now on: sandboxed processes (bubblewrap,
 * when usable; threads otherwise) or worker threads.
 */
export function useIsolation(kind: 'process' | 'thread'): void {
  isolation = kind;
}

export function tmpDir(prefix = 'rune-plugins-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes `source` as `<dir>/<name>` and returns the path. */
export function writePlugin(dir: string, name: string, source: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  return file;
}

/** A plugin with one tool `<tool>` answering `answer`. */
export function toolPlugin(id: string, tool: string, answer: string, extra = ''): string {
  return `export default {
  id: ${JSON.stringify(id)},
  version: '1.0.0',
  ${extra}
  tools: [{
    name: ${JSON.stringify(tool)},
    description: 'test tool',
    inputSchema: { type: 'object', properties: { text: { type: 'string' } } },
    handler: (args) => ${JSON.stringify(answer)} + (args.text ?? ''),
  }],
};
`;
}

export const ctx = (signal = new AbortController().signal): ToolContext => ({
  signal,
  progress: () => undefined,
  caller: { client: 'test' },
  review: () => Promise.resolve({ accepted: [] }),
});

export interface Harness {
  manager: PluginManager;
  tools: ToolRegistry;
  providers: Map<string, Provider>;
  log: string[];
  call(name: string, args?: Record<string, unknown>): Promise<{ text: string; isError: boolean }>;
}

export function harness(
  dirs: string[],
  opts: Partial<Omit<PluginManagerOptions, 'limits'>> & {
    limits?: Partial<PluginManagerOptions['limits']>;
  } = {},
): Harness {
  const logger = createMemoryLogger();
  const tools = new ToolRegistry();
  const providers = new Map<string, Provider>();
  const manager = new PluginManager({
    sources: dirs.map((d) => ({ path: d, origin: 'config' as const })),
    workspace: opts.workspace ?? tmpDir('rune-ws-'),
    bwrap: isolation === 'process',
    // The thread fallback needs the user's opt-in; tests of that rule turn it off.
    allowUnsandboxed: true,
    logger,
    watch: opts.watch ?? false,
    tools: () => tools,
    providers: () => ({
      register(p: Provider) {
        providers.set(p.id, p);
        return toDisposable(() => providers.delete(p.id));
      },
    }),
    ...opts,
    limits: {
      memoryMb: 64,
      toolTimeoutMs: 5000,
      callTimeoutMs: 5000,
      initTimeoutMs: 10000,
      execTimeoutMs: 5000,
      ...opts.limits,
    },
  });
  return {
    manager,
    tools,
    providers,
    log: logger.lines,
    async call(name, args = {}) {
      const r = await tools.call(name, args, ctx());
      const first = r.content[0];
      return {
        text: first && first.type === 'text' ? first.text : '',
        isError: r.isError === true,
      };
    },
  };
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, ms = 15000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${String(last ?? '')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
