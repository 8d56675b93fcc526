/**
 * How a shell or an agent reaches this plugin's `rune` command when a plugin
 * manager installed it (no `rune` on PATH): the absolute Node and CLI paths for
 * the `:RuneMcp` snippets, and `:RuneInstallCli`, which links the committed
 * launchers (bin/rune, bin/rune-mcp) into ~/.local/bin. It links only what is
 * missing and never replaces a file that is not already a link to this plugin.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DisposableStore } from '../core/disposable.js';
import { PACKAGE_ROOT } from '../core/version.js';
import { defineModule } from './module.js';

/** `rune <args>` as absolute paths, so it runs from any PATH (an agent's, a minimal shell's). */
export function runeCommand(...args: string[]): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [path.join(PACKAGE_ROOT, 'dist', 'cli', 'main.js'), ...args],
  };
}

/** The same command as one shell line (paths quoted when they need it). */
export function runeShellLine(...args: string[]): string {
  const c = runeCommand(...args);
  return [c.command, ...c.args].map(shellQuote).join(' ');
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The launchers :RuneInstallCli offers, in this order, when the plugin has them. */
const LAUNCHERS = ['rune', 'rune-mcp'];

export interface LinkPlan {
  name: string;
  /** The launcher in the plugin. */
  target: string;
  /** Where the link goes. */
  link: string;
  /** missing: will be linked; linked: already points here; foreign: another file, left alone. */
  state: 'missing' | 'linked' | 'foreign';
}

export interface CliPlan {
  dir: string;
  onPath: boolean;
  links: LinkPlan[];
}

/** What :RuneInstallCli would do, without touching anything. */
export function planCliLinks(
  home = os.homedir(),
  pathEnv = process.env.PATH ?? '',
  root = PACKAGE_ROOT,
): CliPlan {
  const dir = path.join(home, '.local', 'bin');
  const links: LinkPlan[] = [];
  for (const name of LAUNCHERS) {
    const target = path.join(root, 'bin', name);
    if (!fs.existsSync(target)) continue;
    const link = path.join(dir, name);
    let state: LinkPlan['state'] = 'missing';
    try {
      fs.lstatSync(link);
      state = sameFile(link, target) ? 'linked' : 'foreign';
    } catch {
      // nothing there yet
    }
    links.push({ name, target, link, state });
  }
  const onPath = pathEnv
    .split(path.delimiter)
    .some((p) => p !== '' && path.resolve(p) === path.resolve(dir));
  return { dir, onPath, links };
}

function sameFile(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false; // a dangling link is somebody else's file too
  }
}

/**
 * Creates the missing links of `planCliLinks()`. A file that appeared since the
 * plan is left alone (symlink() never replaces one) and reported as foreign.
 */
export function installCliLinks(plan: CliPlan = planCliLinks()): CliPlan {
  fs.mkdirSync(plan.dir, { recursive: true, mode: 0o755 });
  const links = plan.links.map((l): LinkPlan => {
    if (l.state !== 'missing') return l;
    try {
      fs.symlinkSync(l.target, l.link);
      return { ...l, state: 'linked' };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return { ...l, state: 'foreign' };
      throw err;
    }
  });
  return { ...plan, links };
}

/** `rune.cli.plan` and `rune.cli.install` for :RuneInstallCli (lua/rune/commands.lua). */
export const launcherModule = defineModule({
  name: 'launcher',
  activate({ host }) {
    const store = new DisposableStore();
    store.add(host.onRequest('rune.cli.plan', () => planCliLinks()));
    store.add(host.onRequest('rune.cli.install', () => installCliLinks()));
    store.add(
      host.addHealth('cli', () => {
        const plan = planCliLinks();
        const missing = plan.links.filter((l) => l.state !== 'linked').map((l) => l.name);
        if (missing.length === 0 && plan.onPath) {
          return [{ level: 'ok', message: `\`rune\` is linked in ${plan.dir}, which is on PATH` }];
        }
        return [
          {
            level: 'info',
            message: missing.length
              ? `${missing.join(', ')} not linked in ${plan.dir}; agents can use the absolute command :RuneMcp prints`
              : `\`rune\` is linked in ${plan.dir}, which is not on PATH`,
            advice: missing.length
              ? ['Run :RuneInstallCli to put `rune` on your PATH.']
              : ['Add `export PATH="$HOME/.local/bin:$PATH"` to your shell profile.'],
          },
        ];
      }),
    );
    return store;
  },
});
