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
 * `rune.hub.reload` → re-reads the files. Notification `rune.hub.answer`
 * (id, answer) carries the user's answer to a sampling or elicitation prompt.
 *
 * Remote servers with `oauth` sign in through the browser (tokens kept in the
 * secret store); stdio servers run in the bubblewrap sandbox when
 * `mcp.hub.sandbox` (or their own `sandbox` key) asks for it.
 */
import * as path from 'node:path';
import { z } from 'zod';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import type {
  CreateMessageRequest,
  CreateMessageResult,
  ElicitRequest,
  ElicitResult,
  GetPromptResult,
  ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import {
  DisposableStore,
  toAsyncDisposable,
  toDisposable,
  type Disposable,
} from '../core/disposable.js';
import { ConfigError, NotFoundError, toRuneError } from '../core/errors.js';
import { PendingAnswers } from '../core/pending.js';
import type { Logger } from '../core/log.js';
import { openBrowser } from '../auth/browser.js';
import { McpOAuthProvider } from '../auth/mcp-oauth.js';
import { mergeServers, parseConfigText, type ServerConfig } from '../mcp/hub/config.js';
import { McpHub, type HubAuthProvider, type HubTool, type HubUi } from '../mcp/hub/hub.js';
import { sandboxReport, stdioLauncher } from '../mcp/hub/launcher.js';
import { HubConfigWatcher, defaultHubFiles, loadServers } from '../mcp/hub/loader.js';
import type { ChatMessage } from '../providers/types.js';
import type { ToolRegistry, ToolShape } from '../tools/registry.js';
import { hostSecretStore } from './auth.js';
import type { HealthItem, HostModule, ReadyHost } from './host.js';
import { getProviderRegistry } from './providers.js';
import { getToolRegistry } from './tools.js';
import { execLua } from './chat/lua.js';
import { stripNil } from '../core/nil.js';

/** The hub's options: `mcp.servers` and `mcp.hub` of setup(). */
export const hubConfigSchema = z.object({
  servers: z.record(z.string(), z.unknown()).default({}),
  hub: z
    .object({
      enabled: z.boolean().default(true),
      /** Config files to read instead of the default ones. */
      files: z.array(z.string()).optional(),
      connect_timeout_ms: z.number().int().min(100).default(30_000),
      /** Per tool call, ms; progress notifications restart it. */
      tool_timeout_ms: z.number().int().min(100).default(120_000),
      /** Run stdio servers in the bubblewrap sandbox (a server's own `sandbox` key wins). */
      sandbox: z.boolean().default(false),
      /** Where bubblewrap is unusable, run servers that ask for the sandbox with your rights. */
      allow_unsandboxed: z.boolean().default(false),
      /** How long a browser sign-in (`oauth`) may take, ms. */
      auth_timeout_ms: z.number().int().min(1000).default(300_000),
    })
    .prefault({}),
});
export type HubConfig = z.infer<typeof hubConfigSchema>;

export function parseHubConfig(raw: unknown): HubConfig {
  const mcp = (stripNil(raw ?? {}) ?? {}) as Record<string, unknown>;
  // An empty Lua table arrives as an empty array.
  const servers = Array.isArray(mcp.servers) && mcp.servers.length === 0 ? {} : mcp.servers;
  const r = hubConfigSchema.safeParse({ servers, hub: mcp.hub });
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ConfigError(['mcp', ...issue.path.map(String)].join('.'), issue.message);
  }
  return r.data;
}

/**
 * A tool's JSON Schema as a zod shape for the registry. A schema zod cannot
 * express becomes a permissive shape: the server still validates its input.
 */
export function shapeFromJsonSchema(schema: Record<string, unknown>): z.ZodObject<ToolShape> {
  try {
    const s = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    if (s instanceof z.ZodObject) {
      z.toJSONSchema(s, { io: 'input' });
      return s as z.ZodObject<ToolShape>;
    }
  } catch {
    // fall through to the permissive shape
  }
  return z.looseObject({});
}

/** Answers from Lua prompts (lua/rune/approval.lua), matched by id; a prompt withdrawn on abort. */
class Prompts {
  private readonly waiting = new PendingAnswers<unknown>();
  private n = 0;

  constructor(
    private readonly host: ReadyHost,
    private readonly logger: Logger,
  ) {}

  answer(id: string, value: unknown): void {
    this.waiting.answer(id, value);
  }

  pending(): number {
    return this.waiting.ids().length;
  }

  /** Shows a prompt of `kind` through `require("rune.approval").ask` and waits for its answer. */
  ask(
    kind: 'sample' | 'elicit',
    req: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<unknown> {
    const id = `h${++this.n}`;
    return this.waiting.ask(id, signal, {
      show: () =>
        execLua(this.host.nvim, 'require("rune.approval").ask(...)', [{ ...req, kind, id }]).catch(
          (err: unknown) => {
            this.logger.error('could not show the prompt', { err });
            throw err;
          },
        ),
      withdraw: () => execLua(this.host.nvim, 'require("rune.approval").cancel(...)', [id]),
      cancelled: 'The request was cancelled while waiting for an answer.',
    });
  }
}

function contentText(c: unknown): string {
  const one = (x: unknown): string => {
    const b = x as { type?: string; text?: string; mimeType?: string };
    if (b?.type === 'text') return b.text ?? '';
    return b?.type ? `[${b.type}${b.mimeType ? ` ${b.mimeType}` : ''}]` : '';
  };
  return Array.isArray(c) ? c.map(one).join('\n') : one(c);
}

/** Sampling and elicitation, answered by the user in Neovim. */
class NvimHubUi implements HubUi {
  constructor(
    private readonly host: ReadyHost,
    private readonly prompts: Prompts,
    private readonly logger: Logger,
  ) {}

  async sample(
    server: string,
    params: CreateMessageRequest['params'],
    signal: AbortSignal,
  ): Promise<CreateMessageResult> {
    const messages = params.messages.map((m) => ({ role: m.role, text: contentText(m.content) }));
    const ok = await this.prompts.ask(
      'sample',
      {
        server,
        messages: messages as never,
        system: params.systemPrompt ?? '',
        max_tokens: params.maxTokens,
      },
      signal,
    );
    if (ok !== true) {
      throw new McpError(-1, `The user declined the sampling request of "${server}".`);
    }
    const provider = getProviderRegistry(this.host).get('chat');
    const req: ChatMessage[] = messages.map((m) => ({ role: m.role, content: m.text }));
    let text = '';
    let model = provider.id;
    let stopReason = 'endTurn';
    for await (const ev of provider.chat(
      {
        messages: req,
        ...(params.systemPrompt ? { system: params.systemPrompt } : {}),
        maxTokens: params.maxTokens,
        ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
      },
      { signal },
    )) {
      if (ev.type === 'text') text += ev.delta;
      else if (ev.type === 'done') {
        model = ev.model || model;
        stopReason = ev.stopReason === 'max_tokens' ? 'maxTokens' : 'endTurn';
      }
    }
    this.logger.info('sampling request answered', { server, model, chars: text.length });
    return { model, role: 'assistant', content: { type: 'text', text }, stopReason };
  }

  async elicit(
    server: string,
    params: ElicitRequest['params'],
    signal: AbortSignal,
  ): Promise<ElicitResult> {
    if (!('requestedSchema' in params)) {
      // URL mode is not offered in the capabilities; refuse politely.
      return { action: 'decline' };
    }
    const schema = params.requestedSchema;
    const fields = Object.entries(schema.properties).map(([name, p]) => {
      const prop = p as Record<string, unknown>;
      const values = Array.isArray(prop.enum)
        ? (prop.enum as unknown[]).map(String)
        : Array.isArray(prop.oneOf)
          ? (prop.oneOf as { const: unknown }[]).map((o) => String(o.const))
          : undefined;
      const items = (prop.items ?? {}) as { enum?: unknown[]; anyOf?: { const: unknown }[] };
      const choices = items.enum ?? items.anyOf?.map((o) => o.const);
      const hint = choices ? ` (comma-separated: ${choices.map(String).join(', ')})` : '';
      return {
        name,
        type: String(prop.type ?? 'string'),
        title: typeof prop.title === 'string' ? prop.title : name,
        description: (typeof prop.description === 'string' ? prop.description : '') + hint,
        required: schema.required?.includes(name) === true,
        ...(prop.default !== undefined ? { default: String(prop.default) } : {}),
        ...(values ? { values } : {}),
      };
    });
    const answer = (await this.prompts.ask(
      'elicit',
      { server, message: params.message, fields: fields as never },
      signal,
    )) as { action?: string; content?: Record<string, unknown> } | null;
    const action =
      answer?.action === 'accept' || answer?.action === 'decline' ? answer.action : 'cancel';
    if (action !== 'accept') return { action };
    const content: Record<string, string | number | boolean | string[]> = {};
    for (const f of fields) {
      const raw = answer?.content?.[f.name];
      const text = raw === undefined || raw === null || raw === '' ? f.default : String(raw);
      if (text === undefined) continue;
      if (f.type === 'number' || f.type === 'integer') {
        const n = Number(text);
        if (!Number.isNaN(n)) content[f.name] = f.type === 'integer' ? Math.trunc(n) : n;
      } else if (f.type === 'boolean') {
        content[f.name] = text === 'true' || text === 'yes' || text === '1';
      } else if (f.type === 'array') {
        content[f.name] = text
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      } else {
        content[f.name] = text;
      }
    }
    return { action, content };
  }
}

/** The hub module's parts, for other modules (chat context) and tests. */
export interface HubService {
  hub: McpHub;
  files: string[];
  /** Re-reads the config files and applies the result. */
  reload(): Promise<void>;
  readResource(server: string, uri: string, signal?: AbortSignal): Promise<ReadResourceResult>;
}

const services = new WeakMap<ReadyHost, HubService>();

/** The running hub, or undefined while the module is off. */
export function getHub(host: ReadyHost): HubService | undefined {
  return services.get(host);
}

/** Keeps the registry's `server__tool` entries equal to the hub's connected tools. */
class ToolSync {
  private readonly registered = new Map<string, { key: string; d: Disposable }>();

  constructor(
    private readonly registry: ToolRegistry,
    private readonly hub: McpHub,
    private readonly cfg: HubConfig,
    private readonly logger: Logger,
  ) {}

  sync(): void {
    const tools = new Map(this.hub.tools().map((t) => [t.qualifiedName, t]));
    for (const [name, r] of this.registered) {
      const t = tools.get(name);
      if (!t || keyOf(t) !== r.key) {
        r.d.dispose();
        this.registered.delete(name);
      }
    }
    for (const t of tools.values()) {
      if (this.registered.has(t.qualifiedName)) continue;
      try {
        this.registered.set(t.qualifiedName, { key: keyOf(t), d: this.register(t) });
      } catch (err) {
        this.logger.warn('could not register a hub tool', { tool: t.qualifiedName, err });
      }
    }
  }

  private register(t: HubTool): Disposable {
    const hub = this.hub;
    const timeoutMs = this.cfg.hub.tool_timeout_ms;
    return this.registry.register({
      name: t.qualifiedName,
      ...(t.annotations?.title ? { title: `${t.server}: ${t.annotations.title}` } : {}),
      description: t.description,
      inputSchema: shapeFromJsonSchema(t.inputSchema),
      ...(t.annotations ? { annotations: t.annotations } : {}),
      // A remote server's read-only hint is not a reason to skip asking; its autoApprove is.
      approval: t.autoApprove ? 'auto' : 'ask',
      origin: 'hub',
      handler: async (args, ctx) => {
        // A signal per call: the SDK leaves its abort listener on the signal it is given,
        // and one chat answer passes the same signal to every call it makes.
        const own = new AbortController();
        const forward = () => own.abort(ctx.signal.reason);
        if (ctx.signal.aborted) forward();
        else ctx.signal.addEventListener('abort', forward, { once: true });
        try {
          return await hub.callTool(t.qualifiedName, args as Record<string, unknown>, {
            signal: own.signal,
            onprogress: (p) => ctx.progress(p),
            timeoutMs,
          });
        } finally {
          ctx.signal.removeEventListener('abort', forward);
        }
      },
    });
  }

  dispose(): void {
    for (const r of this.registered.values()) r.d.dispose();
    this.registered.clear();
  }
}

function keyOf(t: HubTool): string {
  return JSON.stringify([t.description, t.inputSchema, t.autoApprove, t.annotations]);
}

function promptText(p: GetPromptResult): string {
  return p.messages
    .map((m) => {
      const c = m.content as { type: string; text?: string; resource?: { text?: string } };
      if (c.type === 'text') return c.text ?? '';
      if (c.type === 'resource') return c.resource?.text ?? '';
      return `[${c.type}]`;
    })
    .filter(Boolean)
    .join('\n\n');
}

const name = z.string().min(1);

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
async function readTrusted(
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

/** McpOAuthProvider that also tells the hub the sign-in URL it sent the user to. */
class HubOAuthProvider extends McpOAuthProvider implements HubAuthProvider {
  pendingUrl: string | undefined;
}

export const hubModule: HostModule = {
  name: 'hub',
  async activate(host: ReadyHost): Promise<Disposable> {
    const cfg = parseHubConfig(host.config.mcp);
    const store = new DisposableStore();
    if (!cfg.hub.enabled) return store;
    const logger = host.logger.child({ module: 'hub' });
    const env = await execLua<{
      cwd: string;
      config_home: string;
      env: Record<string, string>;
      trust_db: string;
    }>(host.nvim, 'return require("rune.context").editor(...)', [
      { environ: true, trust_db: true },
    ]);
    // `${env:VAR}` placeholders see Neovim's environment, which the user controls.
    const vars = { ...process.env, ...env.env };
    const files = (cfg.hub.files ?? defaultHubFiles(env.cwd, env.config_home)).map((f) =>
      path.resolve(env.cwd, f),
    );
    const prompts = new Prompts(host, logger);
    const notify = (msg: string, level: 'INFO' | 'WARN' | 'ERROR' = 'INFO') =>
      execLua(host.nvim, `require("rune.util").notify(..., vim.log.levels.${level})`, [msg]).catch(
        () => undefined,
      );
    // One sign-in helper per remote server with `oauth`, kept while its settings stay.
    const auths = new Map<string, { key: string; provider: HubOAuthProvider }>();
    const authProvider = async (s: ServerConfig): Promise<HubAuthProvider | undefined> => {
      if (!s.oauth || !s.url) return undefined;
      const key = JSON.stringify([s.url, s.oauth]);
      const known = auths.get(s.name);
      if (known?.key === key) return known.provider;
      auths.delete(s.name);
      void known?.provider.dispose();
      const provider: HubOAuthProvider = new HubOAuthProvider({
        store: await hostSecretStore(host),
        server: s.name,
        renewUrl: s.url,
        ...(s.oauth.clientId
          ? {
              client: {
                clientId: s.oauth.clientId,
                ...(s.oauth.clientSecret ? { clientSecret: s.oauth.clientSecret } : {}),
              },
            }
          : {}),
        ...(s.oauth.scope ? { scope: s.oauth.scope } : {}),
        timeoutMs: cfg.hub.auth_timeout_ms,
        openBrowser: (url) => openBrowser(url, vars),
        onPrompt: (url, opened) => {
          provider.pendingUrl = url;
          const refused = provider.renewalRefused;
          provider.renewalRefused = undefined;
          logger.info('mcp server sign-in started', { server: s.name, opened, refused });
          const needs = refused
            ? `MCP server "${s.name}" needs you to sign in again (its sign-in could not be renewed: ${refused})`
            : `MCP server "${s.name}" needs you to sign in`;
          void notify(
            opened
              ? `${needs}: finish it in the browser window that opened (:RuneMcp servers shows its state).`
              : `${needs}: open ${url} in a browser (the link is also in :RuneMcp servers).`,
            'WARN',
          );
        },
      });
      if (s.oauth.clientSecret) logger.addSecret(s.oauth.clientSecret);
      auths.set(s.name, { key, provider });
      return provider;
    };
    store.add(
      toDisposable(() => {
        for (const a of auths.values()) void a.provider.dispose();
        auths.clear();
      }),
    );
    const sandboxWanted = new Map<string, boolean>();
    const launch = {
      sandbox: cfg.hub.sandbox,
      workspace: env.cwd,
      allowUnsandboxed: cfg.hub.allow_unsandboxed,
      wanted: sandboxWanted,
    };
    const hub = new McpHub({
      logger,
      ui: new NvimHubUi(host, prompts, logger),
      connectTimeoutMs: cfg.hub.connect_timeout_ms,
      authProvider,
      wrapStdio: stdioLauncher(launch),
    });
    const sync = new ToolSync(getToolRegistry(host), hub, cfg, logger);
    store.add(hub.onDidChange(() => sync.sync()));
    store.add(toDisposable(() => sync.dispose()));

    const reported = new Set<string>();
    // A file saved with a mistake keeps its last good servers running until it is fixed.
    const lastGood = new Map<string, ServerConfig[]>();
    const untrusted = new Map<string, string>();
    const reload = async () => {
      const lists: ServerConfig[][] = [];
      const errors: ConfigError[] = [];
      const notices: { msg: string; level: 'WARN' | 'ERROR' }[] = [];
      for (const file of files) {
        if (isProjectFile(file, env.cwd, env.config_home)) {
          // Used only as trusted: an edited file stops its servers until trusted again.
          const t = await readTrusted(host, file);
          lastGood.delete(file);
          untrusted.delete(file);
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
            untrusted.set(file, t.state);
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
          lists.push(lastGood.get(file) ?? []);
        } else {
          lastGood.set(file, r.servers);
          lists.push(r.servers);
        }
      }
      const own = loadServers([], cfg.servers, vars);
      errors.push(...own.errors);
      lists.push(own.servers);
      for (const e of errors) {
        if (reported.has(e.message)) continue;
        reported.add(e.message);
        logger.warn('bad mcp server config', { error: e.message });
        await notify(
          `MCP hub: ${e.message}. Fix it and save: the file is read again on change (its servers keep running meanwhile).`,
          'ERROR',
        );
      }
      for (const n of notices) {
        if (reported.has(n.msg)) continue;
        reported.add(n.msg);
        logger.warn('project mcp server file not used', { notice: n.msg });
        await notify(n.msg, n.level);
      }
      // A file that was fixed may break again later: report that again too.
      for (const m of [...reported]) {
        if (!errors.some((e) => e.message === m) && !notices.some((n) => n.msg === m)) {
          reported.delete(m);
        }
      }
      await hub.setServers(mergeServers(...lists));
    };
    let applying: Promise<void> = Promise.resolve();
    const apply = () => {
      applying = applying
        .then(reload)
        .catch((err: unknown) => logger.error('applying the mcp server config failed', { err }));
      return applying;
    };
    // The trust database too: `:trust` on a project file applies it at once.
    const watcher = files.length
      ? new HubConfigWatcher([...files, env.trust_db], () => void apply())
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
    services.set(host, service);
    store.add(toDisposable(() => services.delete(host)));

    store.add(
      host.onNotification('rune.hub.answer', ([id, answer]) => prompts.answer(String(id), answer)),
    );
    store.add(host.onRequest('rune.hub.status', () => status(hub, files, untrusted, launch)));
    for (const verb of ['enable', 'disable', 'restart'] as const) {
      // Answers at once: connecting can take seconds, and Neovim waits for the answer.
      store.add(
        host.onRequest(`rune.hub.${verb}`, ([n]) => {
          const server = name.parse(n);
          if (!hub.status().some((s) => s.name === server)) {
            throw new NotFoundError(`No MCP server named "${server}" is configured.`);
          }
          hub[verb](server).catch((err: unknown) =>
            logger.warn(`mcp server ${verb} failed`, { server, err }),
          );
          return status(hub, files, untrusted, launch);
        }),
      );
    }
    store.add(
      host.onRequest('rune.hub.signout', async ([n]) => {
        const server = name.parse(n);
        if (!hub.status().some((s) => s.name === server)) {
          throw new NotFoundError(`No MCP server named "${server}" is configured.`);
        }
        const known = auths.get(server);
        auths.delete(server);
        await known?.provider.dispose();
        const forget = new McpOAuthProvider({ store: await hostSecretStore(host), server });
        await forget.forget();
        logger.info('mcp server signed out', { server });
        // Connected again without tokens: a server that needs them asks for a sign-in.
        hub
          .restart(server)
          .catch((err: unknown) => logger.warn('mcp server restart failed', { server, err }));
        return status(hub, files, untrusted, launch);
      }),
    );
    // An open server list follows state changes.
    let pushing: NodeJS.Timeout | undefined;
    store.add(
      hub.onDidChange(() => {
        if (pushing) return;
        pushing = setTimeout(() => {
          pushing = undefined;
          void execLua(host.nvim, 'require("rune.hub")._changed(...)', [
            status(hub, files, untrusted, launch) as never,
          ]).catch(() => undefined);
        }, 50);
      }),
    );
    store.add(toDisposable(() => clearTimeout(pushing)));
    store.add(
      host.onRequest('rune.hub.reload', async () => {
        await apply();
        return status(hub, files, untrusted, launch);
      }),
    );
    store.add(
      host.onRequest('rune.hub.resources', () =>
        connectedServers(hub).map((s) => ({
          server: s,
          resources: hub
            .resources(s)
            .map((r) => ({ uri: r.uri, name: r.name, mimeType: r.mimeType })),
        })),
      ),
    );
    store.add(
      host.onRequest('rune.hub.prompts', () =>
        connectedServers(hub).map((s) => ({
          server: s,
          prompts: hub.prompts(s).map((p) => ({
            name: p.name,
            description: p.description ?? '',
            arguments: (p.arguments ?? []).map((a) => ({
              name: a.name,
              description: a.description ?? '',
              required: a.required === true,
            })),
          })),
        })),
      ),
    );
    store.add(
      host.onRequest('rune.hub.get_prompt', async ([server, prompt, args]) => {
        const a = z
          .record(z.string(), z.string())
          .optional()
          .parse(stripNil(args) ?? undefined);
        return promptText(await hub.getPrompt(name.parse(server), name.parse(prompt), a ?? {}));
      }),
    );
    store.add(
      host.addHealth('hub', () => {
        const list = hub.status();
        const skipped: HealthItem[] = [...untrusted].map(([file, state]) => ({
          level: 'warn',
          message: `${file} skipped: ${state === 'denied' ? 'you denied it (:trust ++deny)' : 'this project file is not trusted'}`,
          advice: ['Read it, then run :trust in its buffer (:help rune-hub-trust)'],
        }));
        if (list.length === 0) {
          return [
            ...skipped,
            {
              level: 'info',
              message: `no MCP servers configured (files read: ${files.join(', ')})`,
            },
          ];
        }
        const sandbox = sandboxReport(list, launch);
        return [
          ...(sandbox ? [sandbox] : []),
          ...skipped,
          ...list.map((s): HealthItem => ({
            level:
              s.state === 'connected' || s.state === 'disabled'
                ? 'ok'
                : s.state === 'failed'
                  ? 'error'
                  : 'warn',
            message: `${s.name} (${s.transport}${s.sandboxed ? ', sandboxed' : ''}): ${s.state}, ${s.tools.length} tool(s)${s.lastError ? `: ${s.lastError}` : ''}${s.authUrl ? `; sign in at ${s.authUrl}` : ''}`,
            ...(s.state === 'failed'
              ? {
                  advice: [
                    `Check its entry in ${s.source}; restart it from :RuneMcp servers (key r).`,
                  ],
                }
              : {}),
          })),
        ];
      }),
    );

    // Never hold up the host for the watcher: at worst an early edit is seen on the next one.
    let readyTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      watcher?.ready.catch(() => undefined),
      new Promise<void>((resolve) => (readyTimer = setTimeout(resolve, 2000))),
    ]);
    clearTimeout(readyTimer);
    // Servers connect in the background: a slow server never delays the editor.
    void apply();
    logger.info('mcp hub started', { files });
    return store;
  },
};

function connectedServers(hub: McpHub): string[] {
  return hub
    .status()
    .filter((s) => s.state === 'connected')
    .map((s) => s.name);
}

function status(
  hub: McpHub,
  files: string[],
  untrusted: Map<string, string>,
  launch: Parameters<typeof sandboxReport>[1],
) {
  const servers = hub.status();
  const sandbox = sandboxReport(servers, launch);
  return {
    files,
    /** Said at the top of :RuneMcp when stdio servers go without the sandbox they asked for. */
    sandbox_warning:
      sandbox && (sandbox.level === 'warn' || sandbox.level === 'error') ? sandbox.message : null,
    /** Project files skipped because their content is not trusted (or denied). */
    untrusted: [...untrusted].map(([file, state]) => ({ file, state })),
    servers: servers.map((s) => ({
      name: s.name,
      state: s.state,
      transport: s.transport,
      tools: s.tools,
      resources: s.resources,
      prompts: s.prompts,
      last_error: s.lastError ?? null,
      reconnects: s.reconnects,
      source: s.source,
      stderr: s.stderr.slice(-5),
      sandboxed: s.sandboxed,
      auth_url: s.authUrl ?? null,
    })),
  };
}
