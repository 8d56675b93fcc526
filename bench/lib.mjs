// Shared helpers for the benchmarks: statistics, the Neovim under test, and a
// table printer. Benchmarks print figures; they never assert.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export function nvimBin() {
  if (process.env.RUNE_BENCH_NVIM) return process.env.RUNE_BENCH_NVIM;
  try {
    const out = execFileSync('nvim', ['--version'], { encoding: 'utf8' });
    const m = /NVIM v0\.(\d+)/.exec(out);
    if (m && Number(m[1]) >= 10) return 'nvim';
  } catch {
    // not on PATH
  }
  return path.join(ROOT, '.cache', 'nvim', 'sid', 'bin', 'nvim');
}

export function quantile(values, q) {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i];
}

export const median = (v) => quantile(v, 0.5);
export const p99 = (v) => quantile(v, 0.99);

export function fmt(n, digits = 3) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

// Straight to stdout: the neovim client replaces `console` with its (silent) logger.
const println = (line) => process.stdout.write(line + '\n');

/** Prints rows as an aligned table. */
export function table(title, header, rows) {
  println(`\n${title}`);
  const all = [header, ...rows].map((r) => r.map(String));
  const widths = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  for (const [n, r] of all.entries()) {
    println('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  '));
    if (n === 0) println('  ' + widths.map((w) => '-'.repeat(w)).join('  '));
  }
}
