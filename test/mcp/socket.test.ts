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
import { PassThrough } from 'node:stream';
import {
  readAuthLine,
  SocketClientTransport,
  SocketServerTransport,
} from '../../src/mcp/socket.js';
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

  it("relays the host's bytes unchanged once passing, a line begun before included", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-sock-'));
    const file = path.join(dir, 's');
    const accepted: net.Socket[] = [];
    const srv = net.createServer((s) => accepted.push(s));
    await new Promise<void>((r) => srv.listen(file, r));
    const client = new SocketClientTransport(file, 't');
    cleanup.push(() => {
      void client.close();
      srv.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    const got: JSONRPCMessage[] = [];
    client.onmessage = (m) => got.push(m);
    await client.start();
    await waitFor(() => accepted.length === 1, 5000, 'the connection');
    const host = accepted[0]!;
    // A long line (a big read) split over writes, its start sent with the line before it.
    const big = JSON.stringify({ jsonrpc: '2.0', id: 2, result: { text: 'x'.repeat(300_000) } });
    host.write('{"jsonrpc":"2.0","id":1,"result":{}}\n' + big.slice(0, 1000));
    await waitFor(() => got.length === 1, 5000, 'the first line, parsed');
    expect(got[0]).toMatchObject({ id: 1 });
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    client.passBytes(out);
    const rest = big.slice(1000) + '\n{"jsonrpc":"2.0","method":"notifications/x"}\n';
    host.write(rest.slice(0, 70_000));
    host.write(rest.slice(70_000));
    const want = big + rest.slice(big.length - 1000);
    await waitFor(() => Buffer.concat(chunks).length >= want.length, 5000, 'every byte');
    expect(Buffer.concat(chunks).toString()).toBe(want);
    expect(got).toHaveLength(1);
  });
});
