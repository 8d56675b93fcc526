import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeniedError, BadRequestError } from '../core/errors.js';

/** More links than this in one path is a loop (the kernel's own limit, MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * Resolves a path given by a tool caller and checks it stays inside one of
 * the workspace roots: no `..` segment, no control characters, and every
 * component resolved with `lstat`/`readlink`, so a symbolic link leading out
 * of the roots is refused whether its target exists or not (a dangling
 * `dl -> /outside/new.txt` would otherwise create the outside file).
 * Returns the resolved absolute path: what will really be read or written.
 */
export function resolveInRoots(input: string, roots: readonly string[]): string {
  if (typeof input !== 'string' || input === '') {
    throw new BadRequestError('The path is empty: give a file path inside the workspace.');
  }
  // Control characters have no business in a path and are how injections start.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(input)) {
    throw new DeniedError('The path contains control characters; refused.');
  }
  const segments = input.split(/[\\/]+/);
  if (segments.includes('..')) {
    throw new DeniedError(
      `The path "${input}" contains "..": give a path inside the workspace without "..".`,
    );
  }
  if (roots.length === 0) {
    throw new DeniedError('There is no workspace root; open Neovim in a project folder.');
  }
  const realRoots = roots.map((r) => resolveLinks(path.resolve(r)));
  const abs = path.isAbsolute(input) ? path.normalize(input) : path.resolve(roots[0]!, input);
  if (!realRoots.some((r) => inside(r, abs)) && !roots.some((r) => inside(path.resolve(r), abs))) {
    throw new DeniedError(
      `The path "${input}" is outside the workspace (${roots.join(', ')}); refused.`,
    );
  }
  const real = resolveLinks(abs);
  if (!realRoots.some((r) => inside(r, real))) {
    throw new DeniedError(
      `The path "${input}" resolves through a symbolic link to ${real}, outside the workspace; refused.`,
    );
  }
  return real;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * The path with every symbolic link replaced by its target, component by
 * component (like realpath(3)), except that a missing component ends the
 * lookup: the rest is kept as written. A dangling link therefore resolves to
 * where a write through it would land.
 */
export function resolveLinks(abs: string): string {
  let done = path.parse(abs).root;
  let todo = abs.slice(done.length).split(path.sep).filter(Boolean);
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done = path.dirname(done);
      continue;
    }
    const next = path.join(done, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(next);
    } catch {
      // Missing from here on: nothing more to resolve.
      return path.join(next, ...todo);
    }
    if (!st.isSymbolicLink()) {
      done = next;
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new DeniedError(`Too many symbolic links in "${abs}" (a loop?); refused.`);
    }
    const target = fs.readlinkSync(next);
    const rest = target.split(path.sep).filter(Boolean);
    if (path.isAbsolute(target)) done = path.parse(target).root;
    todo = [...rest, ...todo];
  }
  return done;
}

/** Whether an editor's file `p` is one an agent may see: none (''), or inside the roots. */
export function visibleInRoots(p: string, roots: readonly string[]): boolean {
  if (!p) return true;
  try {
    resolveInRoots(p, roots);
    return true;
  } catch {
    return false;
  }
}
