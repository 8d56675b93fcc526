/**
 * The MCP server as a host module: starts the HTTP server when the host is
 * ready, writes the discovery lock files, registers the editor and AI tools,
 * buffers and diagnostics as resources, a few prompts, and serves
 * `:RuneMcp` (`rune.mcp.info`) and the approval answers from Lua.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { NeovimClient } from 'neovim';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { DisposableStore, toDisposable, type Disposable } from '../core/disposable.js';
import { ConfigError } from '../core/errors.js';
import { PendingAnswers } from '../core/pending.js';
import type { Logger } from '../core/log.js';
import { PACKAGE_ROOT, VERSION } from '../core/version.js';
import {
  ApprovalPolicy,
  ApprovalStore,
  type ApprovalUi,
  type Decision,
} from '../tools/approval.js';
import { AuditLog } from '../tools/audit.js';
import { registerAiTools } from '../tools/ai-tools.js';
import { registerEditorTools } from '../tools/editor/index.js';
import { visibleInRoots } from '../tools/paths.js';
import type { ToolRegistry } from '../tools/registry.js';
import { toolsModule } from './tools.js';
import { McpHttpServer, type SdkServer } from '../mcp/server.js';
import { cleanStale, ensureDir, removeLock, writeLock, type RuneLock } from '../mcp/lockfile.js';
import type { ReadyHost } from './host.js';
import { defineModule, provide } from './module.js';
import { NvimEditor } from './editor.js';
import { providersModule } from './providers.js';
import { parseSection } from '../core/config.js';
import { runeCommand, runeShellLine } from './launcher.js';

const execFileP = promisify(execFile);

const ruleSchema = z.object({
  tool: z.string().min(1),
  args: z.record(z.string(), z.string()).optional(),
  action: z.enum(['allow', 'deny', 'ask']),
});

const port = z.number().int().min(0).max(65535);

/** The `mcp` section of setup() (`:help rune-mcp`); `mcp.servers` and `mcp.hub` are the hub's. */
export const mcpConfigSchema = z.object({
  enabled: z.boolean().default(true).describe('Run the MCP server when the host runs'),
  port: port.default(0).describe('Port on 127.0.0.1; 0 picks a free one'),
  zeke: z
    .object({
      enabled: z.boolean().default(false).describe('No effect (kept for old configs)'),
      lock_dir: z.string().optional().describe('No effect (kept for old configs)'),
    })
    .prefault({})
    .describe('No effect (kept for old configs): zeke reads no lock file'),
  tools: z
    .object({
      unsafe: z
        .boolean()
        .default(false)
        .describe('Offer the raw nvim_command and nvim_lua tools (each call asks)'),
      zeke_aliases: z.boolean().default(true).describe("Also offer the tools under zeke's names"),
      reexport_hub: z
        .boolean()
        .default(false)
        .describe("Offer the hub's servers' tools to agents too"),
      ai: z.boolean().default(true).describe('Offer the AI tools (ask a configured provider)'),
    })
    .prefault({})
    .describe('Which tools agents are offered'),
  approval: z
    .object({
      rules: z
        .array(ruleSchema)
        .default([])
        .describe('Approval rules `{ tool, args?, action }` for agent and chat tool calls'),
    })
    .prefault({})
    .describe("How agents' tool calls are approved"),
  limits: z
    .object({
      max_sessions: z.number().int().min(1).default(1024).describe('Open MCP sessions at most'),
      max_concurrent: z.number().int().min(1).default(16).describe('Requests served at once'),
      max_body_bytes: z
        .number()
        .int()
        .min(1024)
        .default(4 * 1024 * 1024)
        .describe('Largest request body, bytes'),
      idle_timeout_ms: z
        .number()
        .int()
        .min(1000)
        .default(30 * 60 * 1000)
        .describe('An idle session is closed after this long, ms'),
    })
    .prefault({})
    .describe('Limits of the MCP server'),
  audit_log: z
    .union([z.boolean(), z.string()])
    .default(true)
    .describe("true for `stdpath('state')/rune/mcp-audit.log`, a path, or false"),
  tls: z
    .object({
      enabled: z.boolean().default(false).describe('Also listen with TLS'),
      cert: z.string().optional().describe('Certificate (PEM file path)'),
      key: z.string().optional().describe('Private key (PEM file path)'),
      host: z.string().default('127.0.0.1').describe('Address of the TLS listener'),
      port: port.default(0).describe('Port of the TLS listener; 0 picks a free one'),
      // An empty Lua table arrives as [] or {} over msgpack.
      allowed_hosts: z
        .union([z.array(z.string()), z.record(z.string(), z.never())])
        .transform((v) => (Array.isArray(v) ? v : []))
        .default([])
        .describe('Host names the TLS listener accepts besides its address'),
    })
    .prefault({})
    .describe('An optional TLS listener beside the loopback one')
    .superRefine((t, ctx) => {
      if (t.enabled && (!t.cert || !t.key)) {
        ctx.addIssue({
          code: 'custom',
          path: [t.cert ? 'key' : 'cert'],
          message: 'is required when mcp.tls.enabled is true (a PEM file path)',
        });
      }
    }),
});

export type McpConfig = z.infer<typeof mcpConfigSchema>;

export function parseMcpConfig(raw: unknown): McpConfig {
  return parseSection('mcp', mcpConfigSchema, raw);
}

/** Approval prompts drawn by lua/rune/approval.lua; answers come back as notifications. */
class NvimApprovalUi implements ApprovalUi {
  private readonly prompts = new PendingAnswers<{ decision: Decision; accepted: number[] }>();

  constructor(
    private readonly nvim: NeovimClient,
    private readonly logger: Logger,
  ) {}

  answer(id: string, decision: unknown, accepted: unknown): void {
    const d: Decision = decision === 'once' || decision === 'always' ? decision : 'deny';
    this.prompts.answer(id, {
      decision: d,
      accepted: Array.isArray(accepted) ? accepted.filter((n) => typeof n === 'number') : [],
    });
  }

  pending(): string[] {
    return this.prompts.ids();
  }

  private wait(
    id: string,
    signal: AbortSignal,
    show: () => Promise<unknown>,
  ): Promise<{ decision: Decision; accepted: number[] }> {
    return this.prompts.ask(id, signal, {
      show: () =>
        show().catch((err: unknown) => {
          this.logger.error('could not show the approval prompt', { err });
          throw err;
        }),
      withdraw: () => this.nvim.lua('require("rune.approval").cancel(...)', [id]),
      cancelled: 'The call was cancelled while waiting for approval.',
    });
  }

  async ask(req: Parameters<ApprovalUi['ask']>[0], signal: AbortSignal): Promise<Decision> {
    const a = await this.wait(req.id, signal, () =>
      this.nvim.lua('require("rune.approval").ask(...)', [req as never]),
    );
    return a.decision;
  }

  review(
    req: Parameters<ApprovalUi['review']>[0],
    proposal: Parameters<ApprovalUi['review']>[1],
    signal: AbortSignal,
  ): Promise<{ accepted: number[]; decision: Decision }> {
    return this.wait(req.id, signal, () =>
      this.nvim.lua('require("rune.approval").review(...)', [req as never, proposal as never]),
    );
  }
}

/** What the MCP server module provides while the server runs. */
export interface McpService {
  server: McpHttpServer;
  registry: ToolRegistry;
  lock: string | undefined;
}

/**
 * The running server's registry, for modules that add tools (the MCP hub,
 * plugins). Undefined while the server is off.
 */
export function getMcpToolRegistry(host: ReadyHost): ToolRegistry | undefined {
  return host.service(mcpModule)?.registry;
}

/** The running server (tests use it to reach the token and port). */
export function getMcpServer(host: ReadyHost): McpHttpServer | undefined {
  return host.service(mcpModule)?.server;
}

export const mcpModule = defineModule({
  name: 'mcp',
  needs: [providersModule, toolsModule],
  config: (all) => parseMcpConfig(all.mcp),
  async activate(ctx): Promise<Disposable & { service?: McpService }> {
    const { host, nvim, logger, config: cfg, facts } = ctx;
    const store = new DisposableStore();
    if (!cfg.enabled) return store;
    const env = { state: facts.state, cwd: facts.cwd, server: facts.server, pid: facts.pid };
    const stateDir = path.join(env.state, 'rune');

    const editor = new NvimEditor(nvim);
    // The host's one registry: the hub's and plugins' tools land here too.
    const registry = ctx.needs.tools;
    store.add(
      registerEditorTools(registry, editor, {
        unsafe: cfg.tools.unsafe,
        zekeAliases: cfg.tools.zeke_aliases,
      }),
    );
    if (cfg.tools.ai) store.add(registerAiTools(registry, () => ctx.needs.providers.registry()));

    const ui = new NvimApprovalUi(nvim, logger);
    let project = env.cwd;
    const approvals = new ApprovalStore(path.join(stateDir, 'approvals.json'), (message) => {
      logger.warn('damaged state file', { message });
      void nvim
        .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [message])
        .catch(() => undefined);
    });
    approvals.open();
    const policy = new ApprovalPolicy({
      rules: cfg.approval.rules,
      store: approvals,
      project: () => project,
      ui,
      logger,
    });
    const auditFile =
      cfg.audit_log === false
        ? null
        : typeof cfg.audit_log === 'string'
          ? cfg.audit_log
          : path.join(stateDir, 'mcp-audit.log');
    const audit = new AuditLog(auditFile, logger);

    const server = new McpHttpServer({
      registry,
      publish: (t) => t.def.origin !== 'hub' || cfg.tools.reexport_hub,
      ...(cfg.tls.enabled && cfg.tls.cert && cfg.tls.key
        ? {
            tls: {
              cert: cfg.tls.cert,
              key: cfg.tls.key,
              host: cfg.tls.host,
              port: cfg.tls.port,
              allowedHosts: cfg.tls.allowed_hosts,
            },
          }
        : {}),
      gate: audit.wrap(policy.gate),
      asksPerson: (tool, args) => policy.decide(tool, args) === 'ask',
      port: cfg.port,
      logger,
      maxSessions: cfg.limits.max_sessions,
      maxConcurrent: cfg.limits.max_concurrent,
      maxBodyBytes: cfg.limits.max_body_bytes,
      idleTimeoutMs: cfg.limits.idle_timeout_ms,
      setup: (mcp, _session, sdk) => addResourcesAndPrompts(mcp, editor, sdk),
    });
    try {
      await server.listen();
    } catch (err) {
      throw new ConfigError(
        'mcp.port',
        `cannot listen on 127.0.0.1:${cfg.port} (${(err as Error).message}); pick another port or 0 for a free one`,
      );
    }
    // Host shutdown drains it (calls in flight finish or are cancelled with a result), then closes it.
    store.add({
      drain: (graceMs: number, hurry?: AbortSignal) => server.drain(graceMs, hurry),
      dispose: () => void server.close(),
      disposeAsync: () => server.close(),
    });

    const lockDir = path.join(stateDir, 'mcp');
    // `rune mcp`'s direct stream, next to the lock file in the same 0700 folder.
    let socket: string | undefined;
    try {
      ensureDir(lockDir);
      cleanStale(lockDir);
      await server.listenSocket(path.join(lockDir, `${server.port}.sock`));
      socket = server.socketFile;
    } catch (err) {
      logger.warn('no unix socket for rune mcp; it will use HTTP', { err });
    }
    const lockData: RuneLock = {
      pid: process.pid,
      port: server.port,
      token: server.token,
      url: server.url,
      cwd: env.cwd,
      workspaceFolders: [...facts.roots],
      nvimServer: env.server,
      nvimPid: env.pid,
      ...(socket ? { socket } : {}),
      version: VERSION,
      createdAt: new Date().toISOString(),
    };
    const locks: string[] = [];
    try {
      locks.push(writeLock(lockDir, `${server.port}.lock`, lockData));
    } catch (err) {
      logger.warn('could not write the lock file', { err });
    }
    if (cfg.zeke.enabled) {
      // Nothing in zeke reads ~/.zeke/ide (zeke.nvim's lock files there describe zeke's own
      // HTTP API), so Rune writes nothing there: zeke reaches Rune through ZEKE_MCP_COMMAND.
      logger.warn(
        'mcp.zeke.enabled does nothing: zeke reads no lock file; set ZEKE_MCP_COMMAND to bin/rune-mcp (see :RuneMcp)',
      );
    }
    const removeLocks = () => {
      if (socket) fs.rmSync(socket, { force: true });
      for (const l of locks) {
        try {
          removeLock(l);
        } catch {
          // already gone
        }
      }
    };
    process.on('exit', removeLocks);
    store.add(
      toDisposable(() => {
        process.off('exit', removeLocks);
        removeLocks();
        void nvim.lua('require("rune.mcp")._stopped()', []).catch(() => undefined);
      }),
    );

    store.add(
      host.onNotification('rune.approval.answer', ([id, decision, accepted]) => {
        ui.answer(String(id), decision, accepted);
      }),
    );
    store.add(
      host.onNotification('rune.mcp.changed', ([items]) => {
        for (const it of Array.isArray(items) ? (items as { kind: string; buf?: number }[]) : []) {
          if (it.kind === 'buffer' && typeof it.buf === 'number') {
            server.resourceUpdated(`nvim://buffer/${it.buf}`);
          } else if (it.kind === 'diagnostics') {
            server.resourceUpdated('nvim://diagnostics');
          } else if (it.kind === 'list') {
            server.resourceListChanged();
          }
        }
      }),
    );
    store.add(
      host.onRequest('rune.mcp.info', () => ({
        url: server.url,
        port: server.port,
        token: server.token,
        lock: locks[0] ?? null,
        audit_log: auditFile,
        clients: server.sessionList(),
        recent: audit.recent(),
        pending: ui.pending(),
        snippets: snippets(server.url, server.token),
      })),
    );
    store.add(
      host.onRequest('rune.mcp.reset_approvals', async () => {
        project = (await editor.roots().catch(() => [env.cwd]))[0] ?? env.cwd;
        await approvals.reset(project);
        return true;
      }),
    );
    store.add(
      host.addHealth('mcp', () => [
        { level: 'ok', message: `MCP server listening on ${server.url}` },
        {
          level: locks.length ? 'ok' : 'warn',
          message: locks.length ? `lock file ${locks.join(', ')}` : 'no lock file was written',
          advice: locks.length
            ? undefined
            : ['See :RuneLog; `rune mcp` cannot find this Neovim without it.'],
        },
        socket
          ? { level: 'ok', message: `rune mcp socket ${socket}` }
          : {
              level: 'warn',
              message: 'no unix socket for rune mcp; it uses HTTP (slower)',
              advice: ['See :RuneLog for why the socket could not be created.'],
            },
        { level: 'info', message: `${server.sessionList().length} client(s) connected` },
      ]),
    );
    // A notification: Neovim runs it before the host's `_ready` call, with no round trip.
    nvim.notify('nvim_exec_lua', [
      'require("rune.mcp")._server(...)',
      [
        {
          url: server.url,
          port: server.port,
          token: server.token,
          lock: locks[0] ?? null,
          socket: socket ?? null,
        },
      ],
    ]);
    logger.info('mcp server listening', { url: server.url, tools: registry.list().length });
    return provide(store, { server, registry, lock: locks[0] });
  },
});

/** Copyable setup lines for `:RuneMcp`. */
export function snippets(url: string, token: string): { title: string; text: string }[] {
  return [
    {
      title: 'Claude Code (HTTP)',
      text: `claude mcp add --transport http rune ${url} --header "Authorization: Bearer ${token}"`,
    },
    {
      title: 'mcpServers entry (stdio, finds this Neovim by its folder)',
      text: JSON.stringify({ mcpServers: { rune: runeCommand('mcp') } }, null, 2),
    },
    {
      title: 'rune from a shell (:RuneInstallCli puts it on PATH)',
      text: runeShellLine('tool', 'list'),
    },
    {
      title: 'zeke (its MCP client runs this program; run zeke in this folder)',
      text: zekeSnippet(),
    },
  ];
}

/**
 * zeke's setup: ZEKE_MCP_COMMAND is one program path without arguments, read only when
 * zeke finds a zeke.toml (GhostKellz/zeke src/config/mod.zig `loadConfig`/`loadFromEnv`).
 */
export function zekeSnippet(): string {
  return [
    '# zeke reads ZEKE_MCP_COMMAND only when it finds a zeke.toml',
    '# (~/.config/zeke/zeke.toml, or zeke.toml in the folder zeke runs in), e.g.:',
    '#   [default]',
    '#   provider = "ollama"',
    `export ZEKE_MCP_COMMAND=${path.join(PACKAGE_ROOT, 'bin', 'rune-mcp')}`,
  ].join('\n');
}

function addResourcesAndPrompts(mcp: McpServer, editor: NvimEditor, sdk: SdkServer): void {
  mcp.registerResource(
    'buffer',
    new sdk.ResourceTemplate('nvim://buffer/{id}', {
      list: async () => {
        const roots = await editor.roots();
        return {
          resources: (await editor.listBuffers())
            .filter((b) => b.loaded && visibleInRoots(b.path, roots))
            .map((b) => ({
              uri: `nvim://buffer/${b.id}`,
              name: b.path || b.name || `buffer ${b.id}`,
              mimeType: 'text/plain',
            })),
        };
      },
    }),
    {
      title: 'Neovim buffer',
      description: 'The current text of a buffer, unsaved changes included.',
    },
    async (uri, vars) => {
      const id = Number(vars.id);
      const b = Number.isInteger(id) ? await editor.buffer(id) : undefined;
      if (!b) throw new Error(`No buffer ${String(vars.id)}.`);
      if (!visibleInRoots(b.path, await editor.roots())) {
        throw new Error(`Buffer ${b.id} holds ${b.path}, outside the workspace; refused.`);
      }
      const text = await editor.getText(b.id, 0, b.lineCount);
      return { contents: [{ uri: uri.href, mimeType: 'text/plain', text }] };
    },
  );
  mcp.registerResource(
    'diagnostics',
    'nvim://diagnostics',
    {
      title: 'Diagnostics',
      description: 'Every diagnostic in the open buffers.',
      mimeType: 'application/json',
    },
    async (uri) => {
      const roots = await editor.roots();
      const mine = (await editor.diagnostics()).filter((d) => visibleInRoots(d.path, roots));
      return {
        contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(mine) }],
      };
    },
  );
  mcp.registerPrompt(
    'explain_selection',
    { title: 'Explain the selection', description: 'Explains the code selected in Neovim.' },
    async () => {
      const sel = await editor.selection();
      const text = sel
        ? `Explain this code from ${sel.path || 'a buffer'} (lines ${sel.range.start.line + 1}-${sel.range.end.line + 1}):\n\n\`\`\`\n${sel.text}\n\`\`\``
        : 'Nothing is selected in Neovim. Ask me to select the code to explain.';
      return { messages: [{ role: 'user', content: { type: 'text', text } }] };
    },
  );
  mcp.registerPrompt(
    'review_diff',
    {
      title: 'Review the current diff',
      description: 'Reviews the uncommitted changes of the workspace (git diff).',
      argsSchema: { staged: z.string().optional().describe('"true" to review the staged changes') },
    },
    async (args) => {
      const root = (await editor.roots())[0] ?? process.cwd();
      // The repository's own .git/config may name programs (an external diff, a textconv
      // filter, an fsmonitor hook): reading a diff must not run them.
      const gitArgs = [
        '-c',
        'core.fsmonitor=false',
        '-c',
        'core.hooksPath=/dev/null',
        'diff',
        '--no-color',
        '--no-ext-diff',
        '--no-textconv',
        ...(args.staged === 'true' ? ['--cached'] : []),
      ];
      let diff: string;
      try {
        diff = (await execFileP('git', gitArgs, { cwd: root, maxBuffer: 4 * 1024 * 1024 })).stdout;
      } catch (err) {
        diff = `(git diff failed: ${(err as Error).message})`;
      }
      const text = diff.trim()
        ? `Review this diff. Point out bugs, risky changes and missing tests:\n\n\`\`\`diff\n${diff}\n\`\`\``
        : 'There are no uncommitted changes to review.';
      return { messages: [{ role: 'user', content: { type: 'text', text } }] };
    },
  );
}
