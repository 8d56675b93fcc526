/**
 * Marks every process the test run starts (Neovim, hosts, servers) with an
 * environment variable, and after the run checks that none is left: a stray
 * process is killed and fails the run, naming it.
 */
import * as fs from 'node:fs';
import { randomUUID } from 'node:crypto';

const MARK = 'RUNE_TEST_RUN';

function marked(id: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8');
      if (!env.split('\0').includes(`${MARK}=${id}`)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      const state = /^State:\s+(\S)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      if (state !== 'Z') out.push({ pid, cmd });
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

export default function setup(): () => Promise<void> {
  const id = randomUUID();
  process.env[MARK] = id;
  return async () => {
    // Processes get a moment to exit after their parents closed them.
    let left = marked(id);
    for (let i = 0; i < 50 && left.length > 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      left = marked(id);
    }
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // vitest reports an error thrown here but does not fail the run for it.
    process.exitCode = 1;
    throw new Error(
      `the test run left ${left.length} process(es) behind:\n` +
        left.map((p) => `  ${p.pid} ${p.cmd}`).join('\n'),
    );
  };
}
