/**
 * A small OAuth 2.1 authorization server on 127.0.0.1 for tests: authorize
 * (PKCE S256 required), token (authorization_code, refresh_token with
 * rotation and reuse detection), revocation (RFC 7009), dynamic registration
 * (RFC 7591) and the metadata documents the MCP SDK discovers.
 */
import * as http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

export interface AuthServer {
  url: string;
  /** Access-token lifetime handed out, seconds. */
  accessTtl: number;
  /** What /authorize does: answer normally, with a forged state, or with an error. */
  mode: 'ok' | 'wrong-state' | 'deny';
  clients: Map<string, { redirectUris: string[] }>;
  issuedAccess: string[];
  revoked: string[];
  tokenRequests: Record<string, string>[];
  isValidAccess(token: string): boolean;
  /** Serves `/mcp` (a protected MCP endpoint) when set. */
  onMcp?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  close(): Promise<void>;
}

export async function startAuthServer(): Promise<AuthServer> {
  const codes = new Map<
    string,
    { clientId: string; redirectUri: string; challenge: string; scope: string }
  >();
  const refresh = new Map<string, { clientId: string; used: boolean; scope: string }>();
  const access = new Set<string>();
  const s: AuthServer = {
    url: '',
    accessTtl: 3600,
    mode: 'ok',
    clients: new Map([['rune-test', { redirectUris: [] }]]),
    issuedAccess: [],
    revoked: [],
    tokenRequests: [],
    isValidAccess: (t) => access.has(t),
    close: async () => undefined,
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const issue = (res: http.ServerResponse, clientId: string, scope: string) => {
    const at = `at-${randomBytes(12).toString('hex')}`;
    const rt = `rt-${randomBytes(12).toString('hex')}`;
    access.add(at);
    s.issuedAccess.push(at);
    refresh.set(rt, { clientId, used: false, scope });
    json(res, 200, {
      access_token: at,
      token_type: 'Bearer',
      expires_in: s.accessTtl,
      refresh_token: rt,
      scope,
    });
  };
  const body = async (req: http.IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  };

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', s.url);
    const p = url.pathname;
    if (p === '/mcp' && s.onMcp) return s.onMcp(req, res);
    if (req.method === 'GET' && p.startsWith('/.well-known/oauth-protected-resource')) {
      return json(res, 200, { resource: `${s.url}/mcp`, authorization_servers: [s.url] });
    }
    if (req.method === 'GET' && p === '/.well-known/oauth-authorization-server') {
      return json(res, 200, {
        issuer: s.url,
        authorization_endpoint: `${s.url}/authorize`,
        token_endpoint: `${s.url}/token`,
        revocation_endpoint: `${s.url}/revoke`,
        registration_endpoint: `${s.url}/register`,
        response_types_supported: ['code'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        code_challenge_methods_supported: ['S256'],
        token_endpoint_auth_methods_supported: ['none'],
      });
    }
    if (req.method === 'POST' && p === '/register') {
      const meta = JSON.parse(await body(req)) as { redirect_uris: string[] };
      const id = `dyn-${randomBytes(6).toString('hex')}`;
      s.clients.set(id, { redirectUris: meta.redirect_uris });
      return json(res, 201, { ...meta, client_id: id, client_id_issued_at: 0 });
    }
    if (req.method === 'GET' && p === '/authorize') {
      const q = url.searchParams;
      const client = s.clients.get(q.get('client_id') ?? '');
      const redirectUri = q.get('redirect_uri') ?? '';
      if (!client) return json(res, 400, { error: 'invalid_client' });
      if (client.redirectUris.length && !client.redirectUris.includes(redirectUri)) {
        return json(res, 400, { error: 'invalid_request', error_description: 'redirect_uri' });
      }
      if (q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge')) {
        return json(res, 400, { error: 'invalid_request', error_description: 'PKCE required' });
      }
      const back = new URL(redirectUri);
      if (s.mode === 'deny') {
        back.searchParams.set('error', 'access_denied');
        back.searchParams.set('error_description', 'The user said no');
      } else {
        const code = `code-${randomBytes(8).toString('hex')}`;
        codes.set(code, {
          clientId: q.get('client_id')!,
          redirectUri,
          challenge: q.get('code_challenge')!,
          scope: q.get('scope') ?? '',
        });
        back.searchParams.set('code', code);
      }
      back.searchParams.set('state', s.mode === 'wrong-state' ? 'forged' : (q.get('state') ?? ''));
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (req.method === 'POST' && (p === '/token' || p === '/revoke')) {
      const form = Object.fromEntries(new URLSearchParams(await body(req)));
      if (p === '/revoke') {
        s.revoked.push(form.token ?? '');
        access.delete(form.token ?? '');
        const r = refresh.get(form.token ?? '');
        if (r) r.used = true;
        res.writeHead(200);
        return res.end();
      }
      s.tokenRequests.push(form);
      if (form.grant_type === 'authorization_code') {
        const c = codes.get(form.code ?? '');
        codes.delete(form.code ?? '');
        const challenge = createHash('sha256')
          .update(form.code_verifier ?? '')
          .digest('base64url');
        if (!c || c.clientId !== form.client_id || c.redirectUri !== form.redirect_uri) {
          return json(res, 400, { error: 'invalid_grant', error_description: 'bad code' });
        }
        if (challenge !== c.challenge) {
          return json(res, 400, { error: 'invalid_grant', error_description: 'PKCE mismatch' });
        }
        return issue(res, c.clientId, c.scope);
      }
      if (form.grant_type === 'refresh_token') {
        const r = refresh.get(form.refresh_token ?? '');
        if (!r || r.used || r.clientId !== form.client_id) {
          return json(res, 400, { error: 'invalid_grant', error_description: 'refresh token' });
        }
        r.used = true;
        return issue(res, r.clientId, r.scope);
      }
      return json(res, 400, { error: 'unsupported_grant_type' });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  s.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  s.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return s;
}

/** A user agent: follows the authorization redirect to the loopback callback. */
export async function browse(url: string): Promise<boolean> {
  const first = await fetch(url, { redirect: 'manual' });
  const location = first.headers.get('location');
  if (!location) throw new Error(`no redirect from ${url}: ${first.status}`);
  const back = await fetch(location);
  await back.text();
  return true;
}
