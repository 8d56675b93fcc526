import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomicSync } from '../core/atomic-file.js';
import type { Logger } from '../core/log.js';

/**
 * What dist/host/main.js (scripts/bundle/main.cjs) leaves for the host when it compiled the
 * host bundle with V8's code cache (Node without `module.enableCompileCache`): where the cache
 * lives, whether it is missing or was rejected, and how to make a new one.
 */
interface CodeCache {
  dir: string;
  file: string;
  /** What the entry found: no cache, one V8 rejected, or one it used. */
  state: 'none' | 'rejected' | 'used';
  create(): Buffer;
}

/**
 * Writes the V8 code cache of the host bundle for the next start, when the entry found none or
 * V8 rejected it: made once the modules have started, it holds the code of the way to ready
 * (and of starting the modules), compiled. Written atomically, at once (once per build and
 * Node version: a host stopped right after starting still leaves it); caches of other builds
 * for this Node are removed. A cache that cannot be written only costs the next start the
 * saving: logged, not thrown.
 */
export function saveCodeCache(logger: Logger): void {
  const cache = (globalThis as Record<symbol, CodeCache | undefined>)[Symbol.for('rune.codeCache')];
  if (!cache) return;
  const { state, file } = cache;
  if (state === 'used') {
    logger.debug('code cache', { state, file });
    return;
  }
  try {
    writeFileAtomicSync(file, cache.create());
    const name = path.basename(file);
    const sameNode = name.slice(0, name.lastIndexOf('-') + 1);
    for (const other of fs.readdirSync(cache.dir)) {
      if (other.startsWith(sameNode) && other !== name) {
        fs.rmSync(path.join(cache.dir, other), { force: true });
      }
    }
    logger.debug('code cache', { state, file, written: true });
  } catch (err) {
    logger.warn('the code cache could not be written', { err, file });
  }
}
