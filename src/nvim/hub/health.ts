/** The hub's section of :checkhealth rune: each server's state, the sandbox, skipped files. */
import type { McpHub } from '../../mcp/hub/clients.js';
import { sandboxReport, type LauncherOptions } from '../../mcp/hub/launcher.js';
import type { HealthItem } from '../host.js';

export function hubHealth(d: {
  hub: McpHub;
  files: string[];
  untrusted: Map<string, string>;
  /** How stdio servers are started (the sandbox they asked for). */
  launch: LauncherOptions;
}): () => HealthItem[] {
  const { hub, files, untrusted, launch } = d;
  return () => {
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
              advice: [`Check its entry in ${s.source}; restart it from :RuneMcp servers (key r).`],
            }
          : s.state === 'cancelled'
            ? {
                advice: [
                  `Its start was cancelled; start it with :RuneMcp restart ${s.name} (or key r in :RuneMcp servers).`,
                ],
              }
            : {}),
      })),
    ];
  };
}
