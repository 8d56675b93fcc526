/**
 * Text and regular-expression search for the `search` tool, run in a worker
 * thread with a deadline. A caller's regular expression can backtrack for
 * longer than anyone will wait (`^(a+)+$` doubles its time with each extra
 * character), and JavaScript cannot interrupt a running match: on the host's
 * thread it would freeze every MCP session, chat and completion. In a worker
 * it is stopped with `terminate()` when the deadline passes or the call is
 * cancelled, and the host keeps answering meanwhile.
 *
 * The worker's code is plain JavaScript handed to `new Worker(…, { eval: true })`,
 * so the same code runs from the TypeScript sources (tests) and from dist/.
 */
import { Worker } from 'node:worker_threads';
import { AbortError, TimeoutError } from '../core/errors.js';

export interface SearchMatch {
  path: string;
  buffer?: number;
  /** 1-based. */
  line: number;
  text: string;
}

export interface SearchJob {
  /** A RegExp source (already checked to compile) and its flags (`''` or `'i'`). */
  pattern: string;
  flags: string;
  max: number;
  /** Buffers' text to search (the `buffers` scope)… */
  buffers?: { path: string; buffer: number; lines: string[] }[];
  /** …or folders to walk (the `workspace` scope); symbolic links are not followed. */
  roots?: string[];
}

/** How long one search may run before it is stopped. */
export const SEARCH_TIMEOUT_MS = 5000;

const SKIP_DIRS = ['.git', 'node_modules', '.hg', '.svn', 'dist', 'build', '.cache'];

const SOURCE = String.raw`
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const { pattern, flags, max, buffers, roots, skip } = workerData;
const re = new RegExp(pattern, flags);
const SKIP = new Set(skip);
const out = [];
function scan(lines, where) {
  for (let i = 0; i < lines.length && out.length < max; i++) {
    if (re.test(lines[i])) out.push({ ...where, line: i + 1, text: lines[i].slice(0, 400) });
  }
}
for (const b of buffers || []) {
  if (out.length >= max) break;
  scan(b.lines, { path: b.path, buffer: b.buffer });
}
let files = 0;
for (const root of roots || []) {
  const stack = [root];
  while (stack.length && out.length < max && files < 50000) {
    const dir = stack.pop();
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (out.length >= max) break;
      const p = path.join(dir, e.name);
      // Dirents are not followed through symbolic links: they could lead out of the workspace.
      if (e.isDirectory()) {
        if (!SKIP.has(e.name)) stack.push(p);
      } else if (e.isFile()) {
        files++;
        let data;
        try {
          if (fs.statSync(p).size > 2 * 1024 * 1024) continue;
          data = fs.readFileSync(p);
        } catch {
          continue;
        }
        if (data.subarray(0, 8000).includes(0)) continue;
        scan(data.toString('utf8').split('\n'), { path: p });
      }
    }
  }
}
parentPort.postMessage(out);
`;

/**
 * Runs `job` in a worker; rejects with a TimeoutError after `timeoutMs` and
 * with an AbortError when `signal` fires, stopping the worker either way.
 */
export function searchInWorker(
  job: SearchJob,
  signal: AbortSignal,
  timeoutMs = SEARCH_TIMEOUT_MS,
): Promise<SearchMatch[]> {
  if (signal.aborted) return Promise.reject(new AbortError());
  return new Promise((resolve, reject) => {
    const worker = new Worker(SOURCE, {
      eval: true,
      workerData: { ...job, skip: SKIP_DIRS },
      resourceLimits: { maxOldGenerationSizeMb: 256 },
      name: 'rune-search',
    });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      void worker.terminate();
      fn();
    };
    const onAbort = () => finish(() => reject(new AbortError('The search was cancelled.')));
    const timer = setTimeout(
      () =>
        finish(() =>
          reject(
            new TimeoutError(
              `The search was stopped after ${timeoutMs / 1000} s: the regular expression ` +
                'takes too long (nested repetition such as (a+)+ backtracks without end). ' +
                'Simplify it, or search for plain text.',
              'total',
            ),
          ),
        ),
      timeoutMs,
    );
    signal.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (m: SearchMatch[]) => finish(() => resolve(m)));
    worker.once('error', (err) => finish(() => reject(err)));
    worker.once('exit', (code) =>
      finish(() => reject(new Error(`The search stopped unexpectedly (exit code ${code}).`))),
    );
  });
}
