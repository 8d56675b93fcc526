/**
 * A local stand-in for github.com and api.github.com on 127.0.0.1, speaking
 * their wire format: the OAuth device flow (POST /login/device/code, POST
 * /login/oauth/access_token with authorization_pending / slow_down /
 * access_denied / expired_token), GET /user, and the Copilot token exchange
 * (GET /copilot_internal/v2/token → { token, expires_at, refresh_in, endpoints }).
 */
import * as http from 'node:http';

export interface GitHubServer {
  url: string;
  /** Answers the next polls give, in order; then the token. */
  pollAnswers: string[];
  /** The GitHub token the device flow hands out and the API accepts. */
  githubToken: string;
  /** Where the exchange says the Copilot API lives. */
  copilotApi: string;
  /** Seconds between polls the device-code answer asks for. */
  interval: number;
  /** Status of the exchange (200, or 401/403 to refuse). */
  exchangeStatus: number;
  exchanges: number;
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

export async function startGitHubServer(): Promise<GitHubServer> {
  let n = 0;
  const s: GitHubServer = {
    url: '',
    pollAnswers: [],
    githubToken: 'gho_localTestToken123',
    copilotApi: '',
    interval: 0,
    exchangeStatus: 200,
    exchanges: 0,
    requests: [],
    close: async () => undefined,
  };
  const json = (res: http.ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += String(c);
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    s.requests.push({ method: req.method ?? '', path: p, headers: req.headers, body });
    if (req.method === 'POST' && p === '/login/device/code') {
      return json(res, 200, {
        device_code: 'device-code-1',
        user_code: 'ABCD-1234',
        verification_uri: `${s.url}/login/device`,
        expires_in: 900,
        interval: s.interval,
      });
    }
    if (req.method === 'POST' && p === '/login/oauth/access_token') {
      const next = s.pollAnswers.shift();
      if (next)
        return json(res, 200, { error: next, ...(next === 'slow_down' ? { interval: 0 } : {}) });
      return json(res, 200, {
        access_token: s.githubToken,
        token_type: 'bearer',
        scope: 'read:user',
      });
    }
    const auth = req.headers.authorization ?? '';
    if (req.method === 'GET' && p === '/user') {
      if (auth !== `token ${s.githubToken}`) return json(res, 401, { message: 'Bad credentials' });
      return json(res, 200, { login: 'octocat', id: 1 });
    }
    if (req.method === 'GET' && p === '/copilot_internal/v2/token') {
      s.exchanges += 1;
      if (auth !== `token ${s.githubToken}`) return json(res, 401, { message: 'Bad credentials' });
      if (s.exchangeStatus !== 200) return json(res, s.exchangeStatus, { message: 'no access' });
      return json(res, 200, {
        token: `tid=copilot-${++n};exp=${Math.floor(Date.now() / 1000) + 1800}`,
        expires_at: Math.floor(Date.now() / 1000) + 1800,
        refresh_in: 1500,
        endpoints: { api: s.copilotApi },
      });
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  s.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return s;
}
