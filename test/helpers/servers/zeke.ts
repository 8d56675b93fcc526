/**
 * A fake `zeke serve` HTTP API (default 127.0.0.1:7878; shapes from zeke's
 * src/rpc/zhttp_server.zig): GET /health → `{status, server, version}`; POST /api/chat
 * `{message, model?, temperature?, max_tokens?}` → `{response, model, provider,
 * tokens_in, tokens_out, latency_ms}`; POST /api/complete `{prompt, model?, max_tokens?,
 * language?}` → `{completion, model, provider}`; GET /api/status → provider status.
 * Everything is plain JSON (no streaming); failures are `{"error": "...", "code": "..."}`.
 *
 *   const s = await startZekeServer();
 *   s.enqueue('chat', { text: 'Hi', usage: { input: 5, output: 1 } });
 *   s.enqueue('complete', { text: 'x + 1' });
 */
import { splitText, startFakeServer, type Fault, type FakeServerBase } from './base.js';

export type ZekeRoute = 'health' | 'chat' | 'complete' | 'status';

export interface ZekeScript extends Fault {
  text?: string | string[];
  usage?: { input: number; output: number };
  model?: string;
  provider?: string;
}

export type ZekeServer = FakeServerBase<ZekeRoute, ZekeScript>;

const JSONH = { 'content-type': 'application/json' };

function json(v: unknown) {
  return { status: 200, headers: JSONH, chunks: [JSON.stringify(v)] };
}

export async function startZekeServer(): Promise<ZekeServer> {
  return startFakeServer<ZekeRoute, ZekeScript>(
    (method, path) => {
      if (method === 'GET' && path === '/health') return 'health';
      if (method === 'POST' && path === '/api/chat') return 'chat';
      if (method === 'POST' && path === '/api/complete') return 'complete';
      if (method === 'GET' && path === '/api/status') return 'status';
      return undefined;
    },
    {
      health: {
        fallback: () => ({}),
        render: () => json({ status: 'ok', server: 'zeke-rpc', version: '0.2.8' }),
      },
      chat: {
        fallback: () => ({ text: 'Hello from Zeke' }),
        render: (s, req) => {
          const b = (req.body ?? {}) as Record<string, unknown>;
          return json({
            response: splitText(s.text).join(''),
            model: s.model ?? (b.model as string) ?? 'qwen2.5-coder:7b',
            provider: s.provider ?? 'ollama',
            tokens_in: s.usage?.input ?? 10,
            tokens_out: s.usage?.output ?? 3,
            latency_ms: 12,
          });
        },
      },
      complete: {
        fallback: () => ({ text: 'x + 1' }),
        render: (s, req) => {
          const b = (req.body ?? {}) as Record<string, unknown>;
          return json({
            completion: splitText(s.text).join(''),
            model: s.model ?? (b.model as string) ?? 'qwen2.5-coder:7b',
            provider: s.provider ?? 'ollama',
          });
        },
      },
      status: {
        fallback: () => ({}),
        render: () =>
          json({
            status: 'running',
            version: '0.2.8',
            providers: { ollama: { available: true }, omen: { available: false } },
            models: ['qwen2.5-coder:7b'],
          }),
      },
    },
    (s) => ({
      status: s.status!,
      headers: JSONH,
      chunks: [
        JSON.stringify({ error: s.errorMessage ?? 'Completion request failed', code: 'Fake' }),
      ],
    }),
  );
}
