import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export interface AtomicWriteOptions {
  /** File mode for a new file (default 0o600: user data is private). */
  mode?: number;
}

/**
 * Writes `data` to `file` so that a crash at any moment leaves either the old
 * content or the new, never a torn file: write a temporary file in the same
 * folder, fsync it, rename it over the target, then fsync the folder so the
 * rename itself is durable.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const dir = path.dirname(file);
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await fs.promises.open(tmp, 'wx', opts.mode ?? 0o600);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (err) {
    await handle.close();
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  await handle.close();
  try {
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
  try {
    const d = await fs.promises.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
  if (!swept.has(file)) {
    swept.add(file);
    await removeStaleTemps(file);
  }
}

/** Files whose leftovers were looked for in this process (once each is enough). */
const swept = new Set<string>();

/**
 * A temporary file older than this was left by a writer that died mid-save (a
 * save takes milliseconds); younger ones may belong to another process saving now.
 */
export const STALE_TEMP_MS = 60_000;

/** Whether `name` is one of `writeFileAtomic`'s temporary files (of `target` when given). */
export function isAtomicTemp(name: string, target?: string): boolean {
  const prefix = target === undefined ? '.' : `.${path.basename(target)}.`;
  return name.startsWith(prefix) && name.endsWith('.tmp');
}

/** Removes the temporary files a killed writer left beside `file` (stale ones only). */
export async function removeStaleTemps(file: string, now = Date.now()): Promise<void> {
  const dir = path.dirname(file);
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (isAtomicTemp(name, file)) await removeIfStale(path.join(dir, name), now);
  }
}

/** Removes one temporary file if it is stale (see `STALE_TEMP_MS`). */
export async function removeIfStale(temp: string, now = Date.now()): Promise<void> {
  try {
    const st = await fs.promises.stat(temp);
    if (now - st.mtimeMs > STALE_TEMP_MS) await fs.promises.rm(temp, { force: true });
  } catch {
    // gone already
  }
}

/** The synchronous twin of `writeFileAtomic`, for exit paths that cannot await. */
export function writeFileAtomicSync(
  file: string,
  data: string | Uint8Array,
  opts: AtomicWriteOptions = {},
): void {
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fd = fs.openSync(tmp, 'wx', opts.mode ?? 0o600);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Moves a damaged file aside, next to it, as `<file>.damaged-<time>` (never deletes
 * it), and returns a sentence for the user saying where it went.
 */
export function moveAside(file: string, reason: string): string {
  const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  let where: string;
  try {
    fs.renameSync(file, aside);
    where = `it was moved to ${aside}`;
  } catch (err) {
    where = `it could not be moved aside (${(err as Error).message}) and was left as it is`;
  }
  return `${file} is damaged (${reason}); ${where}. Nothing was deleted.`;
}

/**
 * Reads a JSON object kept by Rune (answers, picks). A missing file is `{}` (an
 * unreadable one too, reported); one that
 * does not parse, or holds something else than an object, is moved aside (see
 * `moveAside`), reported through `onDamaged`, and read as `{}`: the session goes on,
 * and the next save starts a fresh file instead of overwriting the damaged one.
 */
export function readJsonObject(
  file: string,
  onDamaged: (message: string) => void,
): Record<string, unknown> {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      onDamaged(`${file} cannot be read (${(err as Error).message}); it was left as it is.`);
    }
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    onDamaged(moveAside(file, `not JSON: ${(err as Error).message}`));
    return {};
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    onDamaged(moveAside(file, 'not a JSON object'));
    return {};
  }
  return parsed as Record<string, unknown>;
}

/**
 * Writes `data` as JSON with `writeFileAtomic`; a failure (a read-only or full folder)
 * is told through `tell` (by callers once) and thrown. Nothing is half-written either way.
 */
export async function writeJsonObject(
  file: string,
  data: unknown,
  tell: (message: string) => void,
): Promise<void> {
  try {
    await writeFileAtomic(file, JSON.stringify(data, null, 2) + '\n');
  } catch (err) {
    tell(`${file} cannot be written (${(err as Error).message}); it was left as it was.`);
    throw err;
  }
}
