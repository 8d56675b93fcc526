/**
 * The plugin system as a host module: loads third-party plugins (see
 * src/plugins/), publishes their tools in the MCP server's ToolRegistry and
 * their providers in the provider registry, serves :RunePlugins, reports
 * plugin failures to the user, and adds the plugins and sandbox sections of
 * :checkhealth rune.
 */
import { expandHome } from '../core/home.js';
import * as path from 'node:path';
import { z } from 'zod';
import { DisposableStore, toAsyncDisposable, type Disposable } from '../core/disposable.js';
import type { ToolDefinition } from '../tools/registry.js';
import { luaMap, parseSection } from '../core/config.js';
import {
  PluginManager,
  type PluginInfo,
  type PluginIsolation,
  type ProviderPort,
  UNSANDBOXED_OPTION,
} from '../plugins/manager.js';
import type { PluginSource } from '../plugins/discovery.js';
import { detectBwrap } from '../sandbox/sandbox.js';
import type { HealthItem, ReadyHost } from './host.js';
import { getMcpToolRegistry } from './mcp.js';
import { toolsModule } from './tools.js';
import { providersModule } from './providers.js';
import { defineModule, provide } from './module.js';
import { readTrust } from './facts.js';

const list = z.array(z.string());
const ms = z.number().int().min(1);

/** The `plugins` section of setup() (`:help rune-plugins`). */
export const pluginsConfigSchema = z.object({
  enabled: z.boolean().default(true).describe('Load plugins'),
  user_dir: z.boolean().default(true).describe('Load `$XDG_CONFIG_HOME/rune/plugins/`'),
  project_dir: z
    .boolean()
    .default(false)
    .describe("Load `<cwd>/.rune/plugins/` (runs the project's code: trusted projects only)"),
  paths: list.default([]).describe('More plugin files or directories'),
  disabled: list.default([]).describe('Plugin ids not to load'),
  config: luaMap(luaMap(z.unknown()))
    .default({})
    .describe('Options per plugin id, given to the plugin as `ctx.config`'),
  watch: z.boolean().default(true).describe('Reload a plugin when its file changes'),
  limits: z
    .object({
      memory_mb: z
        .number()
        .int()
        .min(16)
        .default(128)
        .describe("V8 heap limit of each plugin's process or thread, MiB"),
      tool_timeout_ms: ms
        .default(30_000)
        .describe('Default time limit of a tool call, ms (a tool may set its own `timeoutMs`)'),
      call_timeout_ms: ms.default(120_000).describe('Time limit of command and provider calls, ms'),
      init_timeout_ms: ms
        .default(10_000)
        .describe('Time limit of importing and `initialize()`, ms'),
      exec_timeout_ms: ms.default(60_000).describe('Time limit of a `ctx.exec` command, ms'),
      exec_memory_mb: z
        .number()
        .int()
        .min(64)
        .default(2048)
        .describe('Address-space limit of a `ctx.exec` command, MiB'),
    })
    .prefault({})
    .describe('Limits of each plugin'),
  sandbox: z
    .object({
      bwrap: z.boolean().default(true).describe('Run plugins in bubblewrap'),
      allow_unsandboxed: z
        .boolean()
        .default(false)
        .describe('Without bubblewrap, run plugins anyway (with your rights)'),
    })
    .prefault({})
    .describe('How plugins are isolated'),
});

export type PluginsConfig = z.output<typeof pluginsConfigSchema>;

/** Parses the `plugins` section; throws ConfigError naming the bad key. */
export function parsePluginsConfig(raw: unknown): PluginsConfig {
  return parseSection('plugins', pluginsConfigSchema, raw);
}

/** The running plugin manager (tests and benchmarks use it). */
export function getPluginManager(host: ReadyHost): PluginManager | undefined {
  return host.service(pluginsModule);
}

/** What :RunePlugins says first when plugins have no sandbox. */
function isolationLines(iso: PluginIsolation | undefined): string[] {
  if (iso?.kind === 'thread') {
    return [
      `! No sandbox (${iso.reason ?? 'bubblewrap is not usable'}): plugins run with your rights ` +
        `(your files, network and processes), as you allowed with ${UNSANDBOXED_OPTION}.`,
    ];
  }
  if (iso?.kind === 'none') {
    return [
      `! No sandbox (${iso.reason ?? 'bubblewrap is not usable'}): plugins are not run, because ` +
        `they would run with your rights. Install bubblewrap, or set ${UNSANDBOXED_OPTION} = true.`,
    ];
  }
  return [];
}

/** The lines :RunePlugins shows. */
export function formatPlugins(list: PluginInfo[], iso?: PluginIsolation): string[] {
  if (!list.length) {
    return [
      ...isolationLines(iso),
      'No plugins installed. Put plugin files in ~/.config/rune/plugins/ (see :help rune-plugins).',
    ];
  }
  const out: string[] = [...isolationLines(iso)];
  for (const p of list) {
    const mark =
      p.state === 'active' ? '●' : p.state === 'disabled' ? '○' : p.state === 'loading' ? '…' : '✗';
    out.push(`${mark} ${p.id} ${p.version}  ${p.state}  (${p.origin}: ${p.file})`);
    if (p.error) out.push(`    error: ${p.error}`);
    const parts = [
      p.tools.length ? `tools: ${p.tools.join(', ')}` : '',
      p.providers.length ? `providers: ${p.providers.join(', ')}` : '',
      p.commands.length ? `commands: ${p.commands.join(', ')}` : '',
      p.dependsOn.length ? `depends on: ${p.dependsOn.join(', ')}` : '',
    ].filter(Boolean);
    if (parts.length) out.push(`    ${parts.join('  ')}`);
    if (p.state === 'active') {
      out.push(`    loaded in ${p.loadMs.toFixed(1)} ms, ${p.calls} calls, ${p.errors} errors`);
    }
  }
  return out;
}

/** The :checkhealth line saying how plugin code and plugin commands are isolated. */
function sandboxStatus(iso: PluginIsolation): HealthItem {
  if (iso.kind === 'process') {
    return {
      level: 'ok',
      message: `bubblewrap sandbox available (${detectBwrap().path ?? 'bwrap'}): each plugin runs in its own sandboxed process (read-only root; home directory, /run, $XDG_RUNTIME_DIR and /var/tmp hidden and a private /tmp, so no Unix sockets of other programs; only the environment variables its manifest names; reads only its own folder and the project; the project read-only unless the plugin has "fs-write"; no Unix sockets at all where the seccomp filter applies (x86_64, arm64); no network unless it has "network"; no child processes unless it has "exec"); its ctx.exec commands may write the project`,
    };
  }
  const s = detectBwrap();
  const fix = s.usable
    ? 'Set plugins.sandbox.bwrap = true to isolate plugins'
    : 'Install bubblewrap (e.g. apt install bubblewrap, dnf install bubblewrap)';
  const why = iso.reason ?? s.reason ?? 'not usable';
  if (iso.kind === 'none') {
    return {
      level: 'warn',
      message: `no bubblewrap sandbox: ${why}; plugins are not run, because without the sandbox a plugin runs with your rights (your files, network and processes)`,
      advice: [fix, `Or set ${UNSANDBOXED_OPTION} = true to run them with your rights`],
    };
  }
  return {
    level: 'warn',
    message: `no bubblewrap sandbox: ${why}; plugins run in worker threads and their commands unwrapped, with your rights: no filesystem, network or process isolation, only time and memory limits (${UNSANDBOXED_OPTION} is on)`,
    advice: [fix],
  };
}

export const pluginsModule = defineModule({
  name: 'plugins',
  needs: [providersModule, toolsModule],
  config: (all) => parsePluginsConfig(all.plugins),
  async activate(ctx): Promise<Disposable & { service?: PluginManager }> {
    const { host, config: cfg, facts } = ctx;
    const store = new DisposableStore();
    if (!cfg.enabled) {
      store.add(
        host.addHealth('plugins', () => [
          { level: 'info', message: 'plugins are off (plugins.enabled = false)' },
        ]),
      );
      return store;
    }
    const env = { cwd: facts.cwd, home: facts.home };
    const configHome = facts.configHome;
    const sources: PluginSource[] = [];
    if (cfg.user_dir)
      sources.push({ path: path.join(configHome, 'rune', 'plugins'), origin: 'user' });
    // A project's plugins are its code: run only from a folder the user trusted (`:trust`).
    let skipped: string | undefined;
    if (cfg.project_dir) {
      const dir = path.join(env.cwd, '.rune', 'plugins');
      const trust = facts.trust[dir] ?? (await readTrust(host.nvim, dir));
      if (trust.state === 'trusted') sources.push({ path: dir, origin: 'project' });
      else if (trust.state !== 'missing') {
        skipped =
          `project plugins in ${dir} skipped: the folder is ${trust.state === 'denied' ? 'denied' : 'not trusted'}. ` +
          `Trust it with :trust ${dir} (Neovim 0.11+) or list it in plugins.paths, then :RuneRestart`;
        void host.nvim
          .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [skipped])
          .catch(() => undefined);
      }
    }
    for (const p of cfg.paths) {
      const abs = path.resolve(env.cwd, expandHome(p, env.home || undefined));
      sources.push({ path: abs, origin: 'config' });
    }
    const logger = host.logger.child({ module: 'plugins' });
    // The registry is read at each registration: a test may have replaced it, and a
    // providers config error is reported by the providers module, not as a plugin failure.
    const providerPort = (): ProviderPort | undefined => {
      let reg: Partial<ProviderPort>;
      try {
        reg = ctx.needs.providers.registry() as Partial<ProviderPort>;
      } catch (err) {
        logger.warn('plugin providers cannot be added: the providers config is invalid', { err });
        return undefined;
      }
      return typeof reg.register === 'function' ? (reg as ProviderPort) : undefined;
    };
    // The host's shared registry (chat offers its tools to models) and, while the MCP
    // server keeps a registry of its own, that one too so MCP clients see plugin tools.
    const toolPort = {
      register(def: ToolDefinition): Disposable {
        const regs = [...new Set([ctx.needs.tools, getMcpToolRegistry(host)])];
        const done = new DisposableStore();
        try {
          for (const r of regs) if (r) done.add(r.register(def));
        } catch (err) {
          done.dispose();
          throw err;
        }
        return done;
      },
    };
    const manager = new PluginManager({
      sources,
      workspace: env.cwd,
      logger,
      limits: {
        memoryMb: cfg.limits.memory_mb,
        toolTimeoutMs: cfg.limits.tool_timeout_ms,
        callTimeoutMs: cfg.limits.call_timeout_ms,
        initTimeoutMs: cfg.limits.init_timeout_ms,
        execTimeoutMs: cfg.limits.exec_timeout_ms,
        execMemoryMb: cfg.limits.exec_memory_mb,
      },
      config: cfg.config,
      disabled: cfg.disabled,
      watch: cfg.watch,
      bwrap: cfg.sandbox.bwrap,
      allowUnsandboxed: cfg.sandbox.allow_unsandboxed,
      tools: () => toolPort,
      providers: providerPort,
    });

    store.add(
      manager.onDidChange((p) => {
        if (p.state !== 'failed') return;
        void host.nvim
          .lua('require("rune.util").notify(..., vim.log.levels.ERROR)', [
            `${p.error ?? `plugin ${p.id} failed`} (:RunePlugins lists plugins, :RunePlugins reload retries)`,
          ])
          .catch(() => undefined);
      }),
    );
    // Loading runs beside the rest of startup; requests wait for it.
    const started = manager.start().catch((err: unknown) => {
      logger.error('plugins could not start', { err });
    });
    store.add(toAsyncDisposable(() => started.then(() => manager.dispose())));

    store.add(
      host.onRequest('rune.plugins.list', async () => {
        await started;
        return manager.list();
      }),
    );
    store.add(
      host.onRequest('rune.plugins.lines', async () => {
        await started;
        return formatPlugins(manager.list(), manager.isolation());
      }),
    );
    store.add(
      host.onRequest('rune.plugins.reload', async ([id]) => {
        await started;
        await manager.reload(typeof id === 'string' && id ? id : undefined);
        return formatPlugins(manager.list(), manager.isolation());
      }),
    );
    store.add(
      host.onRequest('rune.plugins.run', async ([id, name, args]) => {
        await started;
        return manager.runCommand(
          z.string().parse(id),
          z.string().parse(name),
          z.array(z.string()).parse(Array.isArray(args) ? args : []),
        );
      }),
    );
    store.add(
      host.onRequest('rune.plugins.complete', async ([before]) => {
        await started;
        const words = String(before ?? '')
          .split(/\s+/)
          .slice(1);
        const list = manager.list();
        if (words.length <= 1) return ['reload', ...list.map((p) => p.id)];
        if (words[0] === 'reload' && words.length === 2) return list.map((p) => p.id);
        return list.find((p) => p.id === words[0])?.commands ?? [];
      }),
    );

    store.add(
      host.addHealth('plugins', async () => {
        await started;
        const items: HealthItem[] = [sandboxStatus(manager.isolation())];
        if (skipped) items.push({ level: 'warn', message: skipped });
        const kind = manager.isolation().kind;
        if (kind !== 'none') {
          items.push({
            level: 'info',
            message: `each plugin runs in its own ${kind === 'thread' ? 'worker thread' : 'process'} (heap limit ${cfg.limits.memory_mb} MiB, tool calls stopped after ${cfg.limits.tool_timeout_ms} ms)`,
          });
        }
        if (!getMcpToolRegistry(host)) {
          items.push({
            level: 'info',
            message: 'the MCP server is off: plugin tools are offered to chat models only',
          });
        }
        const list = manager.list();
        if (!list.length)
          items.push({
            level: 'info',
            message: `no plugins in ${sources.map((s) => s.path).join(', ') || '(no sources)'}`,
          });
        for (const p of list) {
          items.push(
            p.state === 'active'
              ? { level: 'ok', message: `${p.id} ${p.version} (${p.file})` }
              : p.state === 'disabled'
                ? { level: 'info', message: `${p.id} is disabled (plugins.disabled)` }
                : {
                    level: 'error',
                    message: p.error ?? `${p.id} failed`,
                    advice: ['Fix the plugin file (it reloads on save) or run :RunePlugins reload'],
                  },
          );
        }
        return items;
      }),
    );
    return provide(store, manager);
  },
});
