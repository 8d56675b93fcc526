/**
 * The host's side of `rune mcp`'s Unix socket: what the client sends right after its
 * token line reaches the transport, however long the server takes to start it.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { readAuthLine, SocketServerTransport } from '../../src/mcp/socket.js';
import { waitFor } from '../helpers/nvim.js';

const cleanup: (() => void)[] = [];
afterEach(() => cleanup.splice(0).forEach((f) => f()));

describe('the socket transport', () => {
  it('keeps the lines that arrive between the token check and the start of the transport', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-sock-'));
    const file = path.join(dir, 's');
    const accepted: net.Socket[] = [];
    const srv = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => srv.listen(file, r));
    const client = net.createConnection(file);
    cleanup.push(() => {
      client.destroy();
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await waitFor(() => accepted.length === 1, 5000, 'the connection');
    const sock = accepted[0]!;
    client.write('Bearer t\n');
    const head = await readAuthLine(sock, (line) => line === 'Bearer t');
    expect(head).not.toBeNull();
    // The server is slow to start the transport (it loads the SDK meanwhile); the
    // client does not wait.
    client.write('{"jsonrpc":"2.0","id":1,"method":"ping"}\n');
    await new Promise((r) => setTimeout(r, 200));
    const transport = new SocketServerTransport(sock, head!, 1 << 20);
    const got: JSONRPCMessage[] = [];
    transport.onmessage = (m) => got.push(m);
    await transport.start();
    await waitFor(() => got.length === 1, 5000, 'the ping');
    expect(got[0]).toMatchObject({ id: 1, method: 'ping' });
  });
});
