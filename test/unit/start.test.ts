/**
 * `npm start` on a fresh clone, as a new user runs it: a copy of the working
 * tree with no node_modules, no build and no .cache. It must install only what
 * running needs, provision a Neovim only when none >= 0.10 is on PATH, and open
 * Neovim with a working Rune (here headless, with a command that asks the host
 * for its status and quits). Prints how long each run took.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, xdgEnv } from '../helpers/nvim.js';

/** A copy of the working tree as `git clone` would lay it out, uncommitted changes included. */
function freshCopy(): string {
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fresh-'));
  const files = execFileSync(
    'git',
    ['ls-files', '-z', '--cached', '--others', '--exclude-standard'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  )
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    const from = path.join(ROOT, f);
    if (!fs.existsSync(from)) continue; // deleted, not yet committed
    fs.mkdirSync(path.dirname(path.join(dest, f)), { recursive: true });
    fs.cpSync(from, path.join(dest, f), { verbatimSymlinks: true });
  }
  return dest;
}

/** PATH without any folder that holds an `nvim`. */
function pathWithoutNvim(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((d) => d && !fs.existsSync(path.join(d, 'nvim')))
    .join(':');
}

interface Run {
  code: number | null;
  stderr: string;
  seconds: number;
}

function npmStart(cwd: string, env: Record<string, string>, outFile: string): Promise<Run> {
  const check = [
    'lua local s = require("rune.host").request("rune.status")',
    'vim.fn.writefile({ vim.json.encode({ state = s.state, version = tostring(vim.version()) }) }, ' +
      JSON.stringify(outFile) +
      ')',
  ].join('; ');
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['start', '--', '--headless', '-c', check, '-c', 'qa!'], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stderr, seconds: (Date.now() - started) / 1000 }));
  });
}

describe('npm start on a fresh clone', () => {
  it('provisions a Neovim when none is on PATH, uses the one on PATH otherwise, and opens Rune', async () => {
    const dir = freshCopy();
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fresh-home-'));
    const out = path.join(home, 'status.json');
    const base: Record<string, string> = {
      ...(process.env as Record<string, string>),
      ...xdgEnv(home),
      HOME: home,
    };
    delete base.NVIM;
    try {
      // 1. No Neovim on PATH: npm ci, build, provision the newest Neovim, open it.
      const first = await npmStart(dir, { ...base, PATH: pathWithoutNvim() }, out);
      expect(first.stderr, first.stderr).not.toContain('npm error');
      expect(first.code, first.stderr).toBe(0);
      expect(JSON.parse(fs.readFileSync(out, 'utf8')).state).toBe('ready');
      expect(fs.existsSync(path.join(dir, '.cache', 'nvim', 'sid', 'bin', 'nvim'))).toBe(true);
      // Nothing only the tests need.
      expect(fs.existsSync(path.join(dir, '.cache', 'nvim', 'trixie'))).toBe(false);
      expect(fs.existsSync(path.join(dir, '.cache', 'copilot-ls'))).toBe(false);
      expect(first.stderr).not.toContain('installing');

      // 2. A Neovim on PATH (0.10, the oldest supported): used as it is, nothing provisioned.
      const nvim010 = process.env.RUNE_NVIM_010;
      expect(nvim010, 'RUNE_NVIM_010 names the provisioned Neovim 0.10').toBeTruthy();
      const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'rune-fresh-bin-'));
      // A launcher as a distribution installs one (the provisioned wrapper finds its prefix from $0).
      fs.writeFileSync(path.join(bin, 'nvim'), `#!/bin/sh\nexec ${nvim010!} "$@"\n`, {
        mode: 0o755,
      });
      fs.rmSync(path.join(dir, '.cache', 'nvim'), { recursive: true });
      fs.rmSync(out);
      const second = await npmStart(dir, { ...base, PATH: `${bin}:${pathWithoutNvim()}` }, out);
      expect(second.code, second.stderr).toBe(0);
      const status = JSON.parse(fs.readFileSync(out, 'utf8')) as { state: string; version: string };
      expect(status.state).toBe('ready');
      expect(status.version).toMatch(/^0\.10\./);
      expect(fs.existsSync(path.join(dir, '.cache', 'nvim'))).toBe(false);
      expect(second.stderr).not.toContain('npm ci');
      // Figures for the README (fresh machine vs warm npm cache differ; this is the run's own).
      process.stderr.write(
        `npm start: fresh clone, no Neovim ${first.seconds.toFixed(1)} s; again, Neovim on PATH ${second.seconds.toFixed(1)} s\n`,
      );
      fs.rmSync(bin, { recursive: true, force: true });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 600_000);
});
