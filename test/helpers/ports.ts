import * as net from 'node:net';

/**
 * A loopback port nothing listens on: the OS picks a free one, which is closed again
 * at once (a server can take it next, or a client finds the port closed).
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
