import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { installCliLinks, planCliLinks, runeCommand } from '../../../src/nvim/launcher.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A plugin root with bin/rune and bin/rune-mcp, and an empty HOME. */
function fixture(): { root: string; home: string } {
  const base = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'rune-launcher-')));
  dirs.push(base);
  const root = path.join(base, 'rune.nvim');
  fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
  for (const n of ['rune', 'rune-mcp']) fs.writeFileSync(path.join(root, 'bin', n), '#!/bin/sh\n');
  const home = path.join(base, 'home');
  fs.mkdirSync(home);
  return { root, home };
}

describe('the rune launcher links', () => {
  it('links what is missing and says when ~/.local/bin is not on PATH', () => {
    const { root, home } = fixture();
    const plan = planCliLinks(home, '/usr/bin:/bin', root);
    expect(plan.onPath).toBe(false);
    expect(plan.links.map((l) => [l.name, l.state])).toEqual([
      ['rune', 'missing'],
      ['rune-mcp', 'missing'],
    ]);
    const done = installCliLinks(plan);
    expect(done.links.every((l) => l.state === 'linked')).toBe(true);
    expect(fs.readlinkSync(path.join(home, '.local', 'bin', 'rune'))).toBe(
      path.join(root, 'bin', 'rune'),
    );
    const again = planCliLinks(home, `/usr/bin:${path.join(home, '.local', 'bin')}`, root);
    expect(again.onPath).toBe(true);
    expect(again.links.every((l) => l.state === 'linked')).toBe(true);
  });

  it('never replaces a file that is not a link to this plugin', () => {
    const { root, home } = fixture();
    const bin = path.join(home, '.local', 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'rune'), 'somebody else\n');
    fs.symlinkSync('/nowhere/rune-mcp', path.join(bin, 'rune-mcp'));
    const done = installCliLinks(planCliLinks(home, '', root));
    expect(done.links.map((l) => l.state)).toEqual(['foreign', 'foreign']);
    expect(fs.readFileSync(path.join(bin, 'rune'), 'utf8')).toBe('somebody else\n');
    expect(fs.readlinkSync(path.join(bin, 'rune-mcp'))).toBe('/nowhere/rune-mcp');
  });

  it('a file that appears after the plan is left alone too', () => {
    const { root, home } = fixture();
    const plan = planCliLinks(home, '', root);
    fs.mkdirSync(plan.dir, { recursive: true });
    fs.writeFileSync(path.join(plan.dir, 'rune'), 'raced\n');
    const done = installCliLinks(plan);
    expect(done.links[0]!.state).toBe('foreign');
    expect(fs.readFileSync(path.join(plan.dir, 'rune'), 'utf8')).toBe('raced\n');
  });

  it('names rune by absolute paths, so no PATH is needed', () => {
    const c = runeCommand('mcp');
    expect(path.isAbsolute(c.command)).toBe(true);
    expect(path.isAbsolute(c.args[0]!)).toBe(true);
    expect(c.args.slice(1)).toEqual(['mcp']);
  });
});
