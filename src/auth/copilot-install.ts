/**
 * Installs the GitHub Copilot language server into Rune's own data folder
 * (`stdpath('data')/rune/copilot-language-server`), where `locateCopilotServer` looks
 * after the configured path.
 *
 * Why the user's `npm` and not a fetch of our own: npm already knows the user's registry,
 * mirror, proxy, certificate authority and registry credentials (.npmrc and
 * `npm_config_*`), verifies `dist.integrity` and unpacks the tarball with a well-kept
 * extractor. Doing it ourselves would mean re-reading .npmrc, proxies and CAs, and adding
 * a tar library; npm comes with Node, which Rune needs anyway.
 *
 * npm runs as a child process in its own process group (so cancelling stops it and
 * anything it started) with a clean environment: what npm needs to find its config and
 * the network, never Rune's own (API keys, tokens, NVIM). It installs into a fresh folder
 * next to the target; only a complete install is renamed into place, so a cancelled or
 * failed one leaves nothing `locateCopilotServer` would pick.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AbortError, RuneError } from '../core/errors.js';
import { which } from '../core/which.js';

/** The npm package of the language server. */
export const COPILOT_LS_PACKAGE = '@github/copilot-language-server';
/** The version Rune is tested with (scripts/setup.sh installs the same one for the tests). */
export const COPILOT_LS_VERSION = '1.539.0';

/** The entry point inside an npm prefix (`<prefix>/node_modules/@github/…`). */
export const COPILOT_LS_ENTRY = path.join(
  'node_modules',
  '@github',
  'copilot-language-server',
  'dist',
  'language-server.js',
);

/**
 * Neovim's `stdpath('data')` as a process outside Neovim sees it: `$XDG_DATA_HOME/<app>`
 * (`~/.local/share/nvim`), `%LOCALAPPDATA%\<app>-data` on Windows. The host inherits
 * Neovim's environment, so both agree.
 */
export function nvimDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const app = env.NVIM_APPNAME || 'nvim';
  if (process.platform === 'win32') {
    return path.join(
      env.LOCALAPPDATA || path.join(os.homedir(), 'AppData', 'Local'),
      `${app}-data`,
    );
  }
  return path.join(env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share'), app);
}

/** Where :RuneCopilotInstall puts the server: `stdpath('data')/rune/copilot-language-server`. */
export function copilotInstallDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(nvimDataDir(env), 'rune', 'copilot-language-server');
}

/**
 * What npm sees of the environment: how to find programs, its own config (`npm_config_*`,
 * HOME for ~/.npmrc), the network (proxies, certificates), temp and locale. Nothing else
 * of Rune's: API keys and tokens stay out.
 */
export function npmEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const keep = new Set([
    'PATH',
    'HOME',
    'USER',
    'LOGNAME',
    'USERPROFILE',
    'APPDATA',
    'LOCALAPPDATA',
    'SYSTEMROOT',
    'COMSPEC',
    'PATHEXT',
    'TMPDIR',
    'TMP',
    'TEMP',
    'LANG',
    'LC_ALL',
    'LC_CTYPE',
    'TZ',
    'HTTP_PROXY',
    'HTTPS_PROXY',
    'NO_PROXY',
    'http_proxy',
    'https_proxy',
    'no_proxy',
    'NODE_EXTRA_CA_CERTS',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
  ]);
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== undefined && (keep.has(k) || /^npm_config_/i.test(k))) out[k] = v;
  }
  return out;
}

/** One step of an install, for progress. */
export interface InstallStep {
  /** 1-based step number of `of`. */
  step: number;
  of: number;
  text: string;
}

export interface InstallOptions {
  /** The folder to install into (default: `copilotInstallDir(env)`). */
  dir?: string;
  /** The package version (default: COPILOT_LS_VERSION). */
  version?: string;
  /** Where npm is looked up and what it sees (filtered by `npmEnv`); default: this process's. */
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onProgress?: (s: InstallStep) => void;
  /** The command that tries again, named in errors (default `:RuneCopilotInstall`). */
  again?: string;
}

export interface Installed {
  /** The installed `language-server.js`. */
  path: string;
  version: string;
}

const STEPS = 4;

/** A version or dist-tag npm may take; never an option or a path. */
function checkVersion(v: string): string {
  if (!/^[0-9A-Za-z][0-9A-Za-z.+-]*$/.test(v)) {
    throw new RuneError(
      'bad_request',
      `"${v}" is not a version of ${COPILOT_LS_PACKAGE}; give one like ${COPILOT_LS_VERSION} (or latest).`,
    );
  }
  return v;
}

/** The size of the files under `dir`, in bytes (what npm unpacked so far). */
function treeSize(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += treeSize(p);
    else if (e.isFile()) {
      try {
        total += fs.statSync(p).size;
      } catch {
        // Gone meanwhile: npm moves files while it works.
      }
    }
  }
  return total;
}

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * npm's own words about what went wrong: the first `npm error …` line (older npm:
 * `npm ERR! …`) that is not the code or the log file, without npm's lowercase heading
 * (`notarget`, `network`) and the final period.
 */
function npmError(stderr: string): string {
  const line = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^npm (error|ERR!)/.test(l))
    .map((l) => l.replace(/^npm (error|ERR!)\s*/, ''))
    .filter((l) => l && !/^A complete log of this run/.test(l) && !/^code\b/.test(l))
    .map((l) => l.replace(/^[a-z]+\s+/, ''))
    .find((l) => l);
  return (line ?? '').replace(/\.$/, '');
}

function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // Left for the next install to clear.
  }
}

/**
 * Installs the server with npm into `dir` (replacing what is there only once the new one
 * is complete) and returns its entry point. Throws AbortError when `signal` fires (npm is
 * killed, nothing is left behind) and a RuneError naming what failed otherwise.
 */
export async function installCopilotServer(opts: InstallOptions = {}): Promise<Installed> {
  const env = opts.env ?? process.env;
  const dir = opts.dir ?? copilotInstallDir(env);
  const version = checkVersion(opts.version ?? COPILOT_LS_VERSION);
  const spec = `${COPILOT_LS_PACKAGE}@${version}`;
  const report = (step: number, text: string) => opts.onProgress?.({ step, of: STEPS, text });
  const again = opts.again ?? ':RuneCopilotInstall';
  if (opts.signal?.aborted) throw new AbortError();

  const npm = which(process.platform === 'win32' ? 'npm.cmd' : 'npm', env);
  if (!npm) {
    throw new RuneError(
      'not_found',
      `npm was not found on PATH, and Rune installs the Copilot language server with it. ` +
        `Install npm (it comes with Node.js: https://nodejs.org) and run ${again} ` +
        `again, or install ${COPILOT_LS_PACKAGE} yourself and set auth.copilot.server to its ` +
        'language-server.js.',
    );
  }

  const parent = path.dirname(dir);
  fs.mkdirSync(parent, { recursive: true });
  const unlock = lock(`${dir}.lock`, again);
  try {
    return await installLocked(npm, dir, spec, env, opts, report, again);
  } finally {
    unlock();
  }
}

/** True when a process with this id runs (and may be signalled by us). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One install at a time per folder, across editors: a lock file holding the installer's
 * process id, created exclusively; one left by a process that is gone is taken over.
 */
function lock(file: string, again: string): () => void {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => removeQuietly(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
        throw new RuneError(
          'busy',
          `Another editor (process ${pid}) is installing the Copilot language server into ` +
            `${path.dirname(file)}. Wait for it to finish (or cancel it there), then run ${again} ` +
            'again if it is still needed.',
        );
      }
      fs.rmSync(file, { force: true });
    }
  }
}

async function installLocked(
  npm: string,
  dir: string,
  spec: string,
  env: NodeJS.ProcessEnv,
  opts: InstallOptions,
  report: (step: number, text: string) => void,
  again: string,
): Promise<Installed> {
  const parent = path.dirname(dir);
  // Leftovers of an install that was killed with its editor (the lock says none runs now).
  const base = path.basename(dir);
  for (const name of fs.readdirSync(parent)) {
    if (name.startsWith(`${base}.tmp-`) || name.startsWith(`${base}.old-`)) {
      removeQuietly(path.join(parent, name));
    }
  }
  const tmp = fs.mkdtempSync(path.join(parent, `${base}.tmp-`));
  try {
    report(1, `asking the npm registry for ${spec}`);
    await runNpm(npm, tmp, spec, env, opts.signal, report, again);
    report(4, `checking ${spec}`);
    const entry = path.join(tmp, COPILOT_LS_ENTRY);
    const pkgFile = path.join(path.dirname(path.dirname(entry)), 'package.json');
    let got: string | undefined;
    try {
      got = (JSON.parse(fs.readFileSync(pkgFile, 'utf8')) as { version?: string }).version;
    } catch {
      got = undefined;
    }
    if (!fs.existsSync(entry) || !got) {
      throw new RuneError(
        'install_failed',
        `npm installed ${spec}, but it has no dist/language-server.js. Check that your npm ` +
          `registry serves the real ${COPILOT_LS_PACKAGE} (npm config get registry).`,
      );
    }
    if (opts.signal?.aborted) throw new AbortError();
    // Into place: the old install (if any) steps aside first, then goes.
    let old: string | undefined;
    if (fs.existsSync(dir)) {
      old = `${dir}.old-${path.basename(tmp).slice(-6)}`;
      fs.renameSync(dir, old);
    }
    try {
      fs.renameSync(tmp, dir);
    } catch (err) {
      if (old) fs.renameSync(old, dir);
      throw err;
    }
    if (old) removeQuietly(old);
    return { path: path.join(dir, COPILOT_LS_ENTRY), version: got };
  } finally {
    removeQuietly(tmp);
  }
}

function runNpm(
  npm: string,
  prefix: string,
  spec: string,
  env: NodeJS.ProcessEnv,
  signal: AbortSignal | undefined,
  report: (step: number, text: string) => void,
  again: string,
): Promise<void> {
  const args = [
    'install',
    spec,
    '--prefix',
    prefix,
    '--no-save',
    '--no-package-lock',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    // The server needs no install scripts; none of its dependencies may run any.
    '--ignore-scripts',
    '--no-progress',
    // npm's fetch log lines tell the steps apart (npm-registry-fetch logs each response).
    '--loglevel=http',
  ];
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const child = spawn(npm, args, {
      cwd: prefix,
      env: npmEnv(env),
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: process.platform !== 'win32',
      windowsHide: true,
    });
    let stderr = '';
    let step = 1;
    let poll: NodeJS.Timeout | undefined;
    let lastText = '';
    const downloading = () => {
      const text = `downloading ${spec}: ${mb(treeSize(path.join(prefix, 'node_modules')))} unpacked`;
      if (text !== lastText) {
        lastText = text;
        report(step, text);
      }
    };
    child.stderr.setEncoding('utf8');
    let pending = '';
    child.stderr.on('data', (d: string) => {
      stderr += d;
      if (stderr.length > 200_000) stderr = stderr.slice(-100_000);
      pending += d;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // `npm http fetch GET 200 <packument url>`: the registry answered; now the tarballs.
        // `npm http cache <spec>@<tarball url>`: a tarball is being fetched.
        if (step < 2 && /^npm http (fetch GET 200|cache) /.test(line)) {
          step = 2;
          downloading();
          poll = setInterval(downloading, 1000);
        }
        if (step < 3 && /^npm http fetch GET 200 \S+\.tgz/.test(line)) {
          step = 3;
          clearInterval(poll);
          report(3, `unpacking ${spec}`);
        }
      }
    });
    let killTimer: NodeJS.Timeout | undefined;
    const kill = (sig: NodeJS.Signals) => {
      try {
        if (child.pid && process.platform !== 'win32') process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone.
      }
    };
    const onAbort = () => {
      kill('SIGTERM');
      killTimer = setTimeout(() => kill('SIGKILL'), 3000);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const done = (err?: Error) => {
      clearInterval(poll);
      clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    child.once('error', (err) =>
      done(
        new RuneError('install_failed', `Could not run npm (${npm}): ${err.message}.`, {
          cause: err,
        }),
      ),
    );
    child.once('close', (code, sig) => {
      if (signal?.aborted) {
        // npm may have started children of its own: the group goes with it.
        kill('SIGKILL');
        return done(new AbortError());
      }
      if (code === 0) return done();
      const why = npmError(stderr) || `npm stopped (${sig ?? `exit code ${code}`})`;
      done(
        new RuneError(
          'install_failed',
          `Installing ${spec} with npm failed: ${why}. Check npm's registry and network ` +
            `(npm config get registry; a proxy needs npm config set proxy), then run ${again} again.`,
        ),
      );
    });
  });
}
