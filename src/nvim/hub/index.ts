/**
 * The MCP hub as a host module: reads the servers from the config files
 * (global and per project, reloaded when they change) and from
 * `setup({ mcp = { servers = … } })`, connects them, and puts each server's
 * tools into the host's tool registry as `server__tool`, where the chat
 * offers them to models. Sampling and elicitation requests of the servers are
 * answered by the user in Neovim (lua/rune/approval.lua) without blocking it.
 *
 * Requests: `rune.hub.status` → the servers with state, tools and last error;
 * `rune.hub.enable|disable|restart` (name); `rune.hub.resources` (server?) →
 * resources per server; `rune.hub.prompts` → prompts per server;
 * `rune.hub.get_prompt` (server, name, args) → the prompt as text;
 * `rune.hub.signout` (name) forgets a server's OAuth tokens and reconnects it;
 * `rune.hub.cancel` stops the servers still starting (their start shows as progress,
 * `hub.start`, whose cancel does the same); `rune.hub.reload` → re-reads the files.
 * Notification `rune.hub.answer`
 * (id, answer) carries the user's answer to a sampling or elicitation prompt.
 *
 * Remote servers with `oauth` sign in through the browser (tokens kept in the
 * secret store); stdio servers run in the bubblewrap sandbox when
 * `mcp.hub.sandbox` (or their own `sandbox` key) asks for it.
 */
import * as path from 'node:path';
import {
  DisposableStore,
  toAsyncDisposable,
  toDisposable,
  type Disposable,
} from '../../core/disposable.js';
import type { Logger } from '../../core/log.js';
import type { ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { McpHub } from '../../mcp/hub/clients.js';
import { HubConfigWatcher, defaultHubFiles } from '../../mcp/hub/loader.js';
import { stdioLauncher, type LauncherOptions } from '../../mcp/hub/launcher.js';
import type { ReadyHost } from '../host.js';
import { toolsModule } from '../tools.js';
import { authModule } from '../auth.js';
import { providersModule } from '../providers.js';
import { defineModule, provide } from '../module.js';
import { execLua } from '../chat/lua.js';
import { parseHubConfig, type HubConfig } from './config.js';
import { hubHealth } from './health.js';
import { HubSignIns } from './oauth.js';
import { showProgress } from '../progress.js';
import { START_KEY, StartProgress } from './progress.js';
import { NvimHubUi, Prompts } from './questions.js';
import { registerRequests } from './requests.js';
import { ServerSources, type Notify } from './sources.js';
import { ToolSync } from './tools.js';

/** The hub module's parts, for other modules (chat context) and tests. */
export interface HubService {
  hub: McpHub;
  files: string[];
  /** Re-reads the config files and applies the result. */
  reload(): Promise<void>;
  readResource(server: string, uri: string, signal?: AbortSignal): Promise<ReadResourceResult>;
}

/** The running hub, or undefined while the module is off. */
export function getHub(host: ReadyHost): HubService | undefined {
  return host.service(hubModule);
}

function notifier(host: ReadyHost): Notify {
  return (msg, level = 'INFO') =>
    execLua(host.nvim, `require("rune.util").notify(..., vim.log.levels.${level})`, [msg]).catch(
      () => undefined,
    );
}

/** Applies `read()`'s servers to the hub, one application at a time, never throwing. */
function serialize(fn: () => Promise<void>, logger: Logger): () => Promise<void> {
  let applying: Promise<void> = Promise.resolve();
  return () => {
    applying = applying
      .then(fn)
      .catch((err: unknown) => logger.error('applying the mcp server config failed', { err }));
    return applying;
  };
}

/** Waits for the config watcher, but never holds up the host for it more than 2 s. */
async function watcherReady(watcher: HubConfigWatcher | undefined): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    watcher?.ready.catch(() => undefined),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000))),
  ]);
  clearTimeout(timer);
}

/** The hub with its sign-ins, sampling and elicitation prompts, and the sandbox launcher. */
function createHub(
  host: ReadyHost,
  cfg: HubConfig,
  d: { logger: Logger; prompts: Prompts; signIns: HubSignIns; launch: LauncherOptions },
): McpHub {
  return new McpHub({
    logger: d.logger,
    ui: new NvimHubUi(host, d.prompts, d.logger),
    connectTimeoutMs: cfg.hub.connect_timeout_ms,
    authProvider: d.signIns.provider,
    wrapStdio: stdioLauncher(d.launch),
  });
}

export const hubModule = defineModule({
  name: 'hub',
  needs: [authModule, providersModule, toolsModule],
  config: (all) => parseHubConfig(all.mcp),
  async activate(ctx): Promise<Disposable & { service?: HubService }> {
    const { host, config: cfg, logger } = ctx;
    const store = new DisposableStore();
    if (!cfg.hub.enabled) return store;
    // The hub's files are those of the folder Neovim worked in when the host started.
    const facts = {
      cwd: ctx.facts.cwd,
      config_home: ctx.facts.configHome,
      env: ctx.facts.env,
      trust_db: ctx.facts.trustDb,
    };
    // `${env:VAR}` placeholders see Neovim's environment, which the user controls.
    const vars = { ...process.env, ...facts.env };
    const files = (cfg.hub.files ?? defaultHubFiles(facts.cwd, facts.config_home)).map((f) =>
      path.resolve(facts.cwd, f),
    );
    const notify = notifier(host);
    const prompts = new Prompts(host, logger);
    const signIns = store.add(
      new HubSignIns(host, { timeoutMs: cfg.hub.auth_timeout_ms, vars, logger, notify }),
    );
    const launch: LauncherOptions = {
      sandbox: cfg.hub.sandbox,
      workspace: facts.cwd,
      allowUnsandboxed: cfg.hub.allow_unsandboxed,
      wanted: new Map<string, boolean>(),
    };
    const hub = createHub(host, cfg, { logger, prompts, signIns, launch });
    const sync = new ToolSync(ctx.needs.tools, hub, cfg, logger);
    store.add(hub.onDidChange(() => sync.sync()));
    store.add(toDisposable(() => sync.dispose()));
    const progress = new StartProgress((p) => void showProgress(host, START_KEY, p));
    store.add(hub.onDidChange(() => progress.observe(hub.status())));

    const sources = new ServerSources(host, {
      files,
      cwd: facts.cwd,
      configHome: facts.config_home,
      servers: cfg.servers,
      vars,
      logger,
      notify,
      // Project files read in the handshake; later reads ask Lua again.
      early: new Map(Object.entries(ctx.facts.trust)),
    });
    const apply = serialize(async () => hub.setServers(await sources.read()), logger);
    // The trust database too: `:trust` on a project file applies it at once.
    const watcher = files.length
      ? new HubConfigWatcher(
          facts.trust_db ? [...files, facts.trust_db] : files,
          () => void apply(),
        )
      : undefined;
    store.add(toDisposable(() => void watcher?.close()));
    // Awaited on shutdown: every server's process is gone before the host exits.
    store.add(toAsyncDisposable(() => hub.dispose({ hurry: host.editorGone.aborted })));

    const service: HubService = {
      hub,
      files,
      reload: apply,
      readResource: (server, uri, signal) => hub.readResource(server, uri, signal),
    };

    store.add(
      host.onNotification('rune.hub.answer', ([id, answer]) => prompts.answer(String(id), answer)),
    );
    const untrusted = sources.untrusted;
    store.add(
      registerRequests(host, { hub, files, untrusted, launch, signIns, reload: apply, logger }),
    );
    store.add(host.addHealth('hub', hubHealth({ hub, files, untrusted, launch })));

    await watcherReady(watcher);
    // Servers connect in the background: a slow server never delays the editor.
    void apply();
    logger.info('mcp hub started', { files });
    return provide(store, service);
  },
});
