import * as fs from 'node:fs';
import * as path from 'node:path';
import { DeniedError, BadRequestError } from '../core/errors.js';

/**
 * Resolves a path given by a tool caller and checks it stays inside one of
 * the workspace roots: no `..` segment, no control characters, and after
 * resolving symlinks (of the path itself or of its nearest existing parent)
 * still inside a root. Returns the absolute path to use.
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
  const realRoots = roots.map(realOrSelf);
  const abs = path.isAbsolute(input) ? path.normalize(input) : path.resolve(roots[0]!, input);
  if (!realRoots.some((r) => inside(r, abs)) && !roots.some((r) => inside(path.resolve(r), abs))) {
    throw new DeniedError(
      `The path "${input}" is outside the workspace (${roots.join(', ')}); refused.`,
    );
  }
  const real = realOfNearest(abs);
  if (!realRoots.some((r) => inside(r, real))) {
    throw new DeniedError(
      `The path "${input}" resolves through a symbolic link to ${real}, outside the workspace; refused.`,
    );
  }
  return abs;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function realOrSelf(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/** realpath of `p`, or of its nearest existing ancestor joined with the rest. */
function realOfNearest(p: string): string {
  let cur = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(cur), ...rest);
    } catch {
      const parent = path.dirname(cur);
      if (parent === cur) return p;
      rest.unshift(path.basename(cur));
      cur = parent;
    }
  }
}
