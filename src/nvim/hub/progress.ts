/**
 * "starting 3 MCP servers: 1/3" while servers start, one progress (key `hub.start`)
 * updated in place as each one connects, fails or waits for a sign-in. A batch is the
 * servers that began starting while it was open (config read, enable, restart); a
 * reconnect after a failure is not a start and shows no progress (it retries quietly,
 * with backoff, and :RuneMcp shows it). Cancelling the progress stops the servers still
 * starting (`McpHub.cancelStarting`); they show as `cancelled`.
 */
import type { ServerStatus } from '../../mcp/hub/clients.js';
import type { Progress } from '../progress.js';

export const START_KEY = 'hub.start';
const TITLE = 'MCP servers';

const starting = (s: ServerStatus | undefined) =>
  s?.state === 'connecting' || s?.state === 'authorizing';

export class StartProgress {
  private seen = new Map<string, ServerStatus>();
  /**
   * The open batch (shown in name order): null while a server is starting,
   * then the state it ended in (a later retry does not reopen it); `gone` if removed.
   */
  private batch = new Map<string, string | null>();
  private last = '';

  constructor(private readonly show: (p: Progress) => void) {}

  /** Called with the hub's status on each change. */
  observe(list: ServerStatus[]): void {
    const now = new Map(list.map((s) => [s.name, s]));
    for (const s of list) {
      const before = this.seen.get(s.name);
      const retry = before !== undefined && s.reconnects > before.reconnects;
      if (starting(s) && !starting(before) && !retry && !this.batch.has(s.name)) {
        this.batch.set(s.name, null);
      }
    }
    this.seen = now;
    for (const [name, end] of this.batch) {
      const s = now.get(name);
      if (end === null && !starting(s)) this.batch.set(name, s?.state ?? 'gone');
    }
    if (this.batch.size === 0) return;
    const ends = [...this.batch].sort(([a], [b]) => a.localeCompare(b));
    const total = ends.length;
    const waiting = ends.filter(([, end]) => end === null).map(([n]) => n);
    const named = (state: string) => ends.filter(([, end]) => end === state).map(([n]) => n);
    const connected = named('connected').length;
    const servers = `${total} MCP server${total === 1 ? '' : 's'}`;
    if (waiting.length) {
      const who = waiting.map((n) => (now.get(n)?.state === 'authorizing' ? `${n} (sign in)` : n));
      const done = total - waiting.length;
      this.emit({
        title: TITLE,
        text: `starting ${servers}: ${done}/${total}, waiting for ${who.join(', ')}`,
        percent: Math.floor((100 * done) / total),
        status: 'running',
      });
      return;
    }
    this.batch = new Map();
    const cancelled = named('cancelled');
    const failed = named('failed');
    if (cancelled.length) {
      this.emit({
        title: TITLE,
        text: `cancelled ${cancelled.join(', ')} (${connected}/${total} started; :RuneMcp restart {name} starts one)`,
        status: 'cancel',
      });
    } else if (failed.length) {
      this.emit({
        title: TITLE,
        text: `${connected}/${total} started; failed: ${failed.join(', ')} (see :RuneMcp servers)`,
        status: 'failed',
      });
    } else {
      this.emit({
        title: TITLE,
        text: `${connected}/${total} started`,
        percent: 100,
        status: 'success',
      });
    }
  }

  private emit(p: Progress): void {
    const key = JSON.stringify(p);
    if (key === this.last) return;
    this.last = key;
    this.show(p);
  }
}
