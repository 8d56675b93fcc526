/**
 * The MCP server's optional TLS listener, for users who expose the server
 * beyond loopback. The certificate files are read again when they change
 * (renewals by an ACME client take effect without a restart).
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import type { Logger } from '../core/log.js';

export interface TlsOptions {
  cert: string;
  key: string;
  /** Address to bind (default 127.0.0.1; e.g. 0.0.0.0 to expose it). */
  host?: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Host names (without port) clients use to reach it, e.g. `devbox.lan`. */
  allowedHosts?: string[];
}

export class TlsListener {
  private readonly server: https.Server;
  private readonly watchers: fs.FSWatcher[] = [];
  private boundPort = 0;

  constructor(
    private readonly tls: TlsOptions,
    listener: http.RequestListener,
    private readonly logger: Logger,
  ) {
    this.server = https.createServer(readCerts(tls), listener);
    this.server.keepAliveTimeout = 65_000;
  }

  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<number> {
    const tls = this.tls;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(tls.port ?? 0, tls.host ?? '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const addr = this.server.address();
    this.boundPort = typeof addr === 'object' && addr ? addr.port : 0;
    let timer: NodeJS.Timeout | undefined;
    const reload = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        try {
          this.server.setSecureContext(readCerts(tls));
          this.logger.info('tls certificate reloaded');
        } catch (err) {
          this.logger.warn('tls certificate reload failed; keeping the old one', { err });
        }
      }, 100);
    };
    for (const file of [tls.cert, tls.key]) {
      try {
        // Watch the folder: renewals often replace the file (rename), which ends a file watch.
        const w = fs.watch(path.dirname(file), (_e, name) => {
          if (!name || name === path.basename(file)) reload();
        });
        w.unref();
        this.watchers.push(w);
      } catch (err) {
        this.logger.warn('cannot watch the tls certificate; changes need a restart', { err });
      }
    }
    this.logger.info('mcp tls listener', { host: tls.host ?? '127.0.0.1', port: this.boundPort });
    return this.boundPort;
  }

  async close(): Promise<void> {
    for (const w of this.watchers.splice(0)) w.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function readCerts(tls: TlsOptions): { cert: Buffer; key: Buffer } {
  try {
    return { cert: fs.readFileSync(tls.cert), key: fs.readFileSync(tls.key) };
  } catch (err) {
    throw new Error(
      `mcp.tls: cannot read the certificate or key (${(err as Error).message}); check mcp.tls.cert and mcp.tls.key`,
    );
  }
}
