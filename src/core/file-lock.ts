/**
 * A lock file that serialises writers of one file across processes (the host
 * and `rune auth` both write the secrets file). Node has no flock(), so the
 * lock is a file created with O_EXCL holding the owner's pid and start time.
 * A writer that crashed cannot wedge the others: a lock whose pid is gone, or
 * that is older than `staleMs` (the pid may have been reused), is broken.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** True when a process with this pid exists (it need not be ours). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, it is just not ours.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface FileLockOptions {
  /** A lock older than this is stale even when its pid is alive (default 30 s). */
  staleMs?: number;
  /** Give up waiting after this long (default 60 s). */
  timeoutMs?: number;
}

interface Owner {
  pid: number;
  at: number;
  /** Tells this holder from another one in the same process. */
  id: string;
}

function readOwner(lock: string): { raw: string; owner: Owner | undefined } | undefined {
  let raw: string;
  try {
    raw = fs.readFileSync(lock, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const o = JSON.parse(raw) as Partial<Owner>;
    if (typeof o.pid === 'number' && typeof o.at === 'number' && typeof o.id === 'string') {
      return { raw, owner: { pid: o.pid, at: o.at, id: o.id } };
    }
  } catch {
    // A torn lock (its writer died between open and write) is stale.
  }
  return { raw, owner: undefined };
}

/**
 * Removes `lock` if it still holds `raw`. The rename makes the check and the
 * removal one step for racing breakers: only one of them gets the file, and
 * one that got a fresh lock by mistake puts it back.
 */
function breakStale(lock: string, raw: string): void {
  const aside = `${lock}.${randomBytes(6).toString('hex')}.stale`;
  try {
    fs.renameSync(lock, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  let got = '';
  try {
    got = fs.readFileSync(aside, 'utf8');
  } catch {
    // gone already
  }
  if (got !== raw) {
    try {
      fs.linkSync(aside, lock);
    } catch {
      // Someone else holds the lock now; theirs stays.
    }
  }
  fs.rmSync(aside, { force: true });
}

function tryAcquire(lock: string, id: string, staleMs: number): boolean {
  try {
    const fd = fs.openSync(
      lock,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
      0o600,
    );
    try {
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, at: Date.now(), id }));
    } finally {
      fs.closeSync(fd);
    }
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const seen = readOwner(lock);
  if (!seen) return false;
  const { owner } = seen;
  if (!owner) {
    // Written by a process that died mid-write, or being written right now: give a
    // live writer the benefit of the doubt for a moment by judging the file's age.
    const st = fs.statSync(lock, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs > 1000) breakStale(lock, seen.raw);
    return false;
  }
  const gone = owner.pid !== process.pid && !pidAlive(owner.pid);
  if (gone || Date.now() - owner.at > staleMs) breakStale(lock, seen.raw);
  return false;
}

/**
 * Runs `fn` while holding `<file>.lock`. Waits (polling) while another live
 * process holds it; breaks a stale lock; throws an error naming the lock file
 * when it cannot get it within `timeoutMs`.
 */
export async function withFileLock<T>(
  file: string,
  fn: () => Promise<T>,
  opts: FileLockOptions = {},
): Promise<T> {
  const lock = `${file}.lock`;
  const staleMs = opts.staleMs ?? 30_000;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const id = randomBytes(8).toString('hex');
  let wait = 5;
  while (!tryAcquire(lock, id, staleMs)) {
    if (Date.now() > deadline) {
      throw new Error(
        `${lock} is held by another process (${readOwner(lock)?.raw ?? 'gone'}). ` +
          'If no Rune process is running, delete it and try again.',
      );
    }
    await new Promise((r) => setTimeout(r, wait));
    wait = Math.min(wait * 2, 100);
  }
  try {
    return await fn();
  } finally {
    if (readOwner(lock)?.owner?.id === id) fs.rmSync(lock, { force: true });
  }
}
