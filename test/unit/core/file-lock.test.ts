import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { withFileLock } from '../../../src/core/file-lock.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-lock-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The pid of a process that has exited (and so cannot hold a lock). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

describe('withFileLock', () => {
  it('holds <file>.lock while the work runs and removes it afterwards', async () => {
    const file = path.join(tmp, 'a', 'data');
    const seen = await withFileLock(file, async () => {
      const owner = JSON.parse(fs.readFileSync(`${file}.lock`, 'utf8')) as { pid: number };
      expect(fs.statSync(`${file}.lock`).mode & 0o777).toBe(0o600);
      return owner.pid;
    });
    expect(seen).toBe(process.pid);
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it('breaks a lock left by a writer that crashed', async () => {
    const file = path.join(tmp, 'b');
    fs.writeFileSync(`${file}.lock`, JSON.stringify({ pid: deadPid(), at: Date.now(), id: 'x' }));
    expect(await withFileLock(file, () => Promise.resolve('ran'), { timeoutMs: 5000 })).toBe('ran');
    expect(fs.existsSync(`${file}.lock`)).toBe(false);
  });

  it('breaks a torn lock (its writer died before writing the owner)', async () => {
    const file = path.join(tmp, 'c');
    fs.writeFileSync(`${file}.lock`, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(`${file}.lock`, old, old);
    expect(await withFileLock(file, () => Promise.resolve('ran'), { timeoutMs: 5000 })).toBe('ran');
  });

  it('breaks a lock older than staleMs even when its pid is alive (the pid was reused)', async () => {
    const file = path.join(tmp, 'd');
    const at = Date.now() - 120_000;
    fs.writeFileSync(`${file}.lock`, JSON.stringify({ pid: process.ppid, at, id: 'x' }));
    expect(await withFileLock(file, () => Promise.resolve('ran'), { timeoutMs: 5000 })).toBe('ran');
  });

  it('waits for a live holder, names the lock when it gives up, and never runs the work', async () => {
    const file = path.join(tmp, 'e');
    const held = JSON.stringify({ pid: process.ppid, at: Date.now(), id: 'other' });
    fs.writeFileSync(`${file}.lock`, held);
    let ran = false;
    const work = () => {
      ran = true;
      return Promise.resolve();
    };
    await expect(withFileLock(file, work, { timeoutMs: 200 })).rejects.toThrow(
      `${file}.lock is held by another process`,
    );
    expect(ran).toBe(false);
    expect(fs.readFileSync(`${file}.lock`, 'utf8')).toBe(held);
    fs.rmSync(`${file}.lock`);
    await withFileLock(file, work);
    expect(ran).toBe(true);
  });

  it('lets one holder at a time in, within one process too', async () => {
    const file = path.join(tmp, 'f');
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 6 }, () =>
        withFileLock(file, async () => {
          most = Math.max(most, ++inside);
          await new Promise((r) => setImmediate(r));
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
  });
});
