/**
 * The MCP server's sessions: one per connected client, on Streamable HTTP
 * (found by its `Mcp-Session-Id`) or on the Unix socket `rune mcp` uses
 * (which has no id on the wire). The table only keeps them; the server
 * decides when they open, expire and close.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { JsonResponseTransport } from './json-response.js';

export interface SessionSummary {
  id: string;
  client: string;
  since: string;
  lastSeenMs: number;
  inFlight: number;
  /** How the client is connected: Streamable HTTP, or the Unix socket `rune mcp` uses. */
  transport: 'http' | 'socket';
}

export interface Session {
  /** Empty until the SDK assigns it during `initialize`. */
  id: string;
  readonly server: McpServer;
  /** Undefined for a session on the Unix socket. */
  readonly transport: JsonResponseTransport | undefined;
  readonly subscriptions: Set<string>;
  readonly since: number;
  lastSeen: number;
  inFlight: number;
  streams: number;
  /**
   * Requests whose HTTP connection is still open, by JSON-RPC id. A request
   * whose connection closes before its answer (the client dropped it, or the
   * `rune mcp` proxy carrying it died) is aborted: its prompt is withdrawn
   * and nothing runs for nobody. `detached` marks a stream closed on purpose.
   */
  readonly open: Map<string | number, { ctrl: AbortController; detached: boolean }>;
  /** A socket session's connection closed: its calls are aborted. */
  readonly gone?: AbortController;
}

/** A new session's state; `id` stays empty until `initialize` assigns it. */
export function newSession(
  server: McpServer,
  transport: JsonResponseTransport | undefined,
  extra: { id?: string; inFlight?: number; streams?: number; gone?: AbortController } = {},
): Session {
  const now = Date.now();
  return {
    id: extra.id ?? '',
    server,
    transport,
    subscriptions: new Set(),
    since: now,
    lastSeen: now,
    inFlight: extra.inFlight ?? 0,
    streams: extra.streams ?? 0,
    open: new Map(),
    ...(extra.gone ? { gone: extra.gone } : {}),
  };
}

export function clientName(server: McpServer): string {
  const v = server.server.getClientVersion();
  return v ? `${v.name} ${v.version}` : 'unknown client';
}

export class SessionTable {
  private readonly byId = new Map<string, Session>();
  /** Sessions on the Unix socket (they have no HTTP session id to be found by). */
  private readonly sockets = new Set<Session>();

  get size(): number {
    return this.byId.size + this.sockets.size;
  }

  /** HTTP sessions only (the limit on `initialize` counts these). */
  get httpCount(): number {
    return this.byId.size;
  }

  all(): Session[] {
    return [...this.byId.values(), ...this.sockets];
  }

  /** An HTTP session by its `Mcp-Session-Id`. */
  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Any session by id, HTTP or socket. */
  find(id: string): Session | undefined {
    return this.byId.get(id) ?? [...this.sockets].find((x) => x.id === id);
  }

  add(s: Session): void {
    if (s.transport) this.byId.set(s.id, s);
    else this.sockets.add(s);
  }

  /** Removes `s`; false when it was not (or no longer) in the table. */
  delete(s: Session): boolean {
    if (!s.transport) return this.sockets.delete(s);
    if (this.byId.get(s.id) !== s) return false;
    return this.byId.delete(s.id);
  }

  /** HTTP sessions with nothing running or listening, unused since `idleMs` before `now`. */
  idle(now: number, idleMs: number): Session[] {
    return [...this.byId.values()].filter(
      (s) => s.inFlight === 0 && s.streams === 0 && now - s.lastSeen > idleMs,
    );
  }

  summaries(): SessionSummary[] {
    const now = Date.now();
    return this.all().map((s) => ({
      id: s.id,
      client: clientName(s.server),
      since: new Date(s.since).toISOString(),
      lastSeenMs: now - s.lastSeen,
      inFlight: s.inFlight,
      transport: s.transport ? 'http' : 'socket',
    }));
  }

  /** Empties the table; returns what it held. */
  clear(): Session[] {
    const all = this.all();
    this.byId.clear();
    this.sockets.clear();
    return all;
  }
}
