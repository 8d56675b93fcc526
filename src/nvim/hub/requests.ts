/**
 * The hub's requests from Lua (lua/rune/hub.lua, lua/rune/mcp.lua, lua/rune/chat.lua):
 * `rune.hub.status|enable|disable|restart|signout|cancel|reload|resources|prompts|get_prompt`,
 * and the status pushed to an open server list when it changes.
 */
import { z } from 'zod';
import type { GetPromptResult } from '@modelcontextprotocol/sdk/types.js';
import { DisposableStore, toDisposable, type Disposable } from '../../core/disposable.js';
import { NotFoundError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { stripNil } from '../../core/nil.js';
import type { McpHub } from '../../mcp/hub/clients.js';
import { sandboxReport, type LauncherOptions } from '../../mcp/hub/launcher.js';
import type { ReadyHost } from '../host.js';
import { execLua } from '../chat/lua.js';
import type { HubSignIns } from './oauth.js';

const name = z.string().min(1);

export function registerRequests(
  host: ReadyHost,
  d: {
    hub: McpHub;
    files: string[];
    untrusted: Map<string, string>;
    launch: LauncherOptions;
    signIns: HubSignIns;
    /** Re-reads the config files and applies them. */
    reload: () => Promise<void>;
    logger: Logger;
  },
): Disposable {
  const { hub, files, untrusted, logger } = d;
  const store = new DisposableStore();
  const current = () => status(hub, files, untrusted, d.launch);
  const configured = (n: unknown): string => {
    const server = name.parse(n);
    if (!hub.status().some((s) => s.name === server)) {
      throw new NotFoundError(`No MCP server named "${server}" is configured.`);
    }
    return server;
  };
  store.add(host.onRequest('rune.hub.status', current));
  for (const verb of ['enable', 'disable', 'restart'] as const) {
    // Answers at once: connecting can take seconds, and Neovim waits for the answer.
    store.add(
      host.onRequest(`rune.hub.${verb}`, ([n]) => {
        const server = configured(n);
        hub[verb](server).catch((err: unknown) =>
          logger.warn(`mcp server ${verb} failed`, { server, err }),
        );
        return current();
      }),
    );
  }
  store.add(
    host.onRequest('rune.hub.signout', async ([n]) => {
      const server = configured(n);
      await d.signIns.signOut(server);
      // Connected again without tokens: a server that needs them asks for a sign-in.
      hub
        .restart(server)
        .catch((err: unknown) => logger.warn('mcp server restart failed', { server, err }));
      return current();
    }),
  );
  // Answers at once (the states are set before the processes are gone).
  store.add(
    host.onRequest('rune.hub.cancel', () => {
      const names = hub
        .status()
        .filter((s) => s.state === 'connecting' || s.state === 'authorizing')
        .map((s) => s.name)
        .sort();
      hub.cancelStarting().then(
        (done) => done.length && logger.info('mcp server start cancelled', { servers: done }),
        (err: unknown) => logger.warn('cancelling mcp servers failed', { err }),
      );
      return { ...current(), cancelled: names };
    }),
  );
  // An open server list follows state changes.
  let pushing: NodeJS.Timeout | undefined;
  store.add(
    hub.onDidChange(() => {
      if (pushing) return;
      pushing = setTimeout(() => {
        pushing = undefined;
        void execLua(host.nvim, 'require("rune.hub")._changed(...)', [current() as never]).catch(
          () => undefined,
        );
      }, 50);
    }),
  );
  store.add(toDisposable(() => clearTimeout(pushing)));
  store.add(
    host.onRequest('rune.hub.reload', async () => {
      await d.reload();
      return current();
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
  return store;
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

function connectedServers(hub: McpHub): string[] {
  return hub
    .status()
    .filter((s) => s.state === 'connected')
    .map((s) => s.name);
}

export function status(
  hub: McpHub,
  files: string[],
  untrusted: Map<string, string>,
  launch: LauncherOptions,
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
