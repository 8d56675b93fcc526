/**
 * A bounded in-memory event store for one session, so a client whose SSE
 * stream dropped (or was closed for polling) can reconnect with
 * `Last-Event-ID` and receive what it missed. Hand-written because the SDK
 * ships only an unbounded example store; this one keeps the last `max`
 * events, which bounds a session's memory.
 */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export class BoundedEventStore implements EventStore {
  private readonly events: { id: string; stream: string; message: JSONRPCMessage }[] = [];
  private seq = 0;

  constructor(private readonly max = 64) {}

  storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${++this.seq}.${streamId}`;
    this.events.push({ id, stream: streamId, message });
    if (this.events.length > this.max) this.events.shift();
    return Promise.resolve(id);
  }

  getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return Promise.resolve(this.events.find((e) => e.id === eventId)?.stream);
  }

  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const at = this.events.findIndex((e) => e.id === lastEventId);
    if (at < 0) return '';
    const stream = this.events[at]!.stream;
    for (const e of this.events.slice(at + 1)) {
      if (e.stream === stream) await send(e.id, e.message);
    }
    return stream;
  }
}
