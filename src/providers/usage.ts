/** Usage accounting per provider and model since the host started. */
import type { UsageRecord } from './types.js';

const TTFT_WINDOW = 256;

interface Row extends UsageRecord {
  ttfts: number[];
}

export class UsageTracker {
  private readonly rows = new Map<string, Row>();

  private row(provider: string, model: string): Row {
    const key = `${provider}\u0000${model}`;
    let r = this.rows.get(key);
    if (!r) {
      r = { provider, model, requests: 0, errors: 0, inputTokens: 0, outputTokens: 0, ttfts: [] };
      this.rows.set(key, r);
    }
    return r;
  }

  /** A finished request. */
  success(provider: string, model: string, u: { input: number; output: number; ttftMs?: number }) {
    const r = this.row(provider, model);
    r.requests++;
    r.inputTokens += u.input;
    r.outputTokens += u.output;
    if (u.ttftMs !== undefined) {
      r.ttfts.push(u.ttftMs);
      if (r.ttfts.length > TTFT_WINDOW) r.ttfts.shift();
    }
  }

  /** A failed request (cancellations are not failures and are not counted). */
  failure(provider: string, model: string, u?: { input: number; output: number }) {
    const r = this.row(provider, model);
    r.requests++;
    r.errors++;
    if (u) {
      r.inputTokens += u.input;
      r.outputTokens += u.output;
    }
  }

  list(provider?: string): UsageRecord[] {
    const out: UsageRecord[] = [];
    for (const r of this.rows.values()) {
      if (provider !== undefined && r.provider !== provider) continue;
      const { ttfts, ...rec } = r;
      const rec2: UsageRecord = { ...rec };
      if (ttfts.length) {
        const s = [...ttfts].sort((a, b) => a - b);
        rec2.ttftMsP50 = s[Math.floor((s.length - 1) / 2)];
      }
      out.push(rec2);
    }
    return out;
  }
}
