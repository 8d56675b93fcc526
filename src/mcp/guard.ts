/**
 * The MCP server's request guard, as pure functions of a request's headers
 * (modelled on the MCP SDK's `hostHeaderValidation` middleware,
 * src/server/middleware/hostHeaderValidation.ts, which validates the Host
 * header apart from any transport):
 *
 * - Host must be a loopback name, and Origin (when sent) a loopback http
 *   origin (DNS rebinding). On the TLS listener, a Host the user allowed and
 *   its own https origin pass too.
 * - `Authorization: Bearer <token>`, compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const LOOPBACK_HOST = /^(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;
const LOOPBACK_ORIGIN = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d{1,5})?$/i;
const BEARER = /^Bearer\s+(\S+)\s*$/i;

export interface GuardHeaders {
  host?: string | undefined;
  origin?: string | undefined;
}

/**
 * Why a request may not reach the server (a message for a 403), or undefined
 * when it may. `allowedTlsHosts` applies only to requests that came over TLS
 * (`encrypted`).
 */
export function checkHostAndOrigin(
  headers: GuardHeaders,
  encrypted: boolean,
  allowedTlsHosts: readonly string[] | undefined,
): string | undefined {
  // Any port is accepted: DNS rebinding puts the attacker's name in Host, never
  // a loopback one, and local proxies (the conformance suite's) keep their own port.
  const { host, origin } = headers;
  if (encrypted && isAllowedTlsHost(host, allowedTlsHosts)) {
    if (origin !== undefined && origin !== `https://${host}` && !LOOPBACK_ORIGIN.test(origin)) {
      return `Forbidden: Origin "${origin}" may not call this server.`;
    }
    return undefined;
  }
  if (!host || !LOOPBACK_HOST.test(host)) {
    return `Forbidden: Host "${host ?? ''}" is not a loopback address.`;
  }
  if (origin !== undefined && !LOOPBACK_ORIGIN.test(origin)) {
    return `Forbidden: Origin "${origin}" may not call this server.`;
  }
  return undefined;
}

function isAllowedTlsHost(host: string | undefined, allowed: readonly string[] | undefined) {
  if (!host || !allowed?.length) return false;
  const name = host.replace(/:\d{1,5}$/, '').toLowerCase();
  return allowed.some((h) => h.toLowerCase() === name);
}

/** The SHA-256 of a token: what `bearerMatches` compares. */
export function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** True when `value` (an Authorization header, or the socket's first line) carries the token. */
export function bearerMatches(value: string | undefined, tokenDigest: Buffer): boolean {
  const m = value ? BEARER.exec(value) : null;
  if (!m) return false;
  // Digests have equal lengths, so timingSafeEqual never leaks the token's length.
  return timingSafeEqual(digest(m[1]!), tokenDigest);
}
