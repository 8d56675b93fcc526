/** The hub's section of :checkhealth rune: each server's state, the sandbox, skipped files. */
import { detectBwrap } from '../../plugins/sandbox.js';
import type { McpHub } from '../../mcp/hub/clients.js';
import type { HealthItem } from '../host.js';

export function hubHealth(d: {
  hub: McpHub;
  files: string[];
  untrusted: Map<string, string>;
  /** Per stdio server: whether the sandbox was asked for. */
  sandboxWanted: Map<string, boolean>;
}): () => HealthItem[] {
  const { hub, files, untrusted, sandboxWanted } = d;
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
    const sandbox: HealthItem[] = [];
    const stdio = list.filter((s) => s.transport === 'stdio' && s.state !== 'disabled');
    const asked = stdio.filter((s) => sandboxWanted.get(s.name));
    if (asked.length) {
      const bwrap = detectBwrap();
      const bare = asked.filter((s) => !s.sandboxed).map((s) => s.name);
      sandbox.push(
        bare.length === 0
          ? {
              level: 'ok',
              message: `stdio servers run sandboxed (bwrap at ${bwrap.path ?? '?'}): ${asked.map((s) => s.name).join(', ')}`,
            }
          : {
              level: 'warn',
              message: `the sandbox is asked for but these stdio servers run without it: ${bare.join(', ')} (${bwrap.reason ?? 'not started yet'})`,
              advice: [
                'Install bubblewrap (e.g. apt-get install bubblewrap) and allow unprivileged user namespaces, then restart the servers.',
              ],
            },
      );
    } else if (stdio.length) {
      sandbox.push({
        level: 'info',
        message:
          'stdio servers run without the sandbox (set mcp.hub.sandbox = true, or "sandbox": true per server)',
      });
    }
    return [
      ...sandbox,
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
