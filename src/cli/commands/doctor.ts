/**
 * `rune doctor`: the checks of `:checkhealth rune`, from a shell — Node,
 * the build, Neovim, running Rune servers, the secret store, the providers
 * of the standalone config, the Copilot language server and the sandbox.
 */
import { Command } from 'commander';
import { findNvim } from 'neovim';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PACKAGE_ROOT, VERSION } from '../../core/version.js';
import { which } from '../../core/which.js';
import { detectBwrap } from '../../sandbox/sandbox.js';
import { toRuneError } from '../../core/errors.js';
import { chooseSecretStore } from '../../auth/choose.js';
import {
  COPILOT_INSTALL_HINT,
  SERVER_SOURCES,
  locateCopilotServer,
} from '../../auth/copilot-ls.js';
import { defaultLockDir, readLocks } from '../../mcp/lockfile.js';
import { modelChecks } from '../../providers/model-checks.js';
import { configFile, standaloneSetup } from '../standalone.js';
import { EXIT } from '../output.js';

/** The oldest Neovim Rune supports (as `has('nvim-0.10')` in lua/rune/health.lua). */
const MIN_NVIM = '0.10.0';

export interface Check {
  section: string;
  level: 'ok' | 'warn' | 'error' | 'info';
  message: string;
  advice?: string;
}

/** Runs every check; never throws (a failing check is an `error` line). */
export async function runChecks(): Promise<Check[]> {
  const out: Check[] = [];
  const add = (section: string, level: Check['level'], message: string, advice?: string) =>
    out.push({ section, level, message, ...(advice ? { advice } : {}) });

  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 20) add('node', 'ok', `Node.js ${process.version}`);
  else
    add('node', 'error', `Node.js ${process.version} is too old`, 'Install Node.js 20.19 or newer');

  const main = path.join(PACKAGE_ROOT, 'dist', 'host', 'main.js');
  if (fs.existsSync(main)) add('build', 'ok', `Rune ${VERSION} is built (${main})`);
  else
    add(
      'build',
      'error',
      'the host is not built',
      `Run \`npm ci && npm run build\` in ${PACKAGE_ROOT}`,
    );

  const nvim = which('nvim');
  if (!nvim) {
    add('neovim', 'warn', 'nvim is not on PATH', `Install Neovim ${MIN_NVIM} or newer`);
  } else {
    // The neovim client's own finder reads `nvim --version` and compares versions properly.
    const { matches, invalid } = findNvim({ cmds: [[nvim]], minVersion: MIN_NVIM });
    const found = matches[0];
    const bad = invalid[0];
    if (found) add('neovim', 'ok', `Neovim ${found.nvimVersion} (${nvim})`);
    else if (bad?.error)
      add('neovim', 'error', `could not run ${nvim} --version: ${bad.error.message}`);
    else
      add(
        'neovim',
        'error',
        bad
          ? `Neovim ${bad.nvimVersion} at ${nvim} is older than ${MIN_NVIM}`
          : `could not read the version of the Neovim at ${nvim} (from \`${nvim} --version\`)`,
        `Install Neovim ${MIN_NVIM} or newer`,
      );
  }

  const lockDir = defaultLockDir();
  const locks = readLocks(lockDir);
  if (locks.length === 0) {
    add('mcp', 'info', `no running Neovim has a Rune MCP server (lock files in ${lockDir})`);
  } else {
    for (const l of locks) add('mcp', 'ok', `Neovim pid ${l.nvimPid}: ${l.url} (cwd ${l.cwd})`);
  }

  const { reason } = await chooseSecretStore({ probeTimeoutMs: 1500 });
  add(
    'secrets',
    reason.startsWith('the OS keyring answered') ? 'ok' : 'warn',
    `secret store: ${reason}`,
  );

  try {
    const { registry, source } = await standaloneSetup();
    try {
      const file = configFile();
      const det = source.detection;
      if (!det) add('providers', 'info', `providers from ${file}`);
      else if (source.guidance) {
        const [first, ...lines] = source.guidance.split('\n');
        add('providers', 'error', first!.replace(/, or:$/, ''), lines.join('; '));
      } else {
        const where = fs.existsSync(file) ? `${file} configures no provider` : `no ${file}`;
        add('providers', 'info', `${where}; using what this machine offers`);
        for (const f of ['chat', 'completion'] as const) {
          const pick = det[f];
          if (pick) add('providers', 'ok', `${f}: ${pick.id} (detected: ${pick.why})`);
        }
      }
      for (const p of registry.list()) {
        try {
          await registry.get('chat', p.id).models({ signal: AbortSignal.timeout(3000) });
          add('providers', 'ok', `${p.id} (${p.kind}) answers at ${p.url}`);
          for (const c of await modelChecks(registry.managed(p.id), p.id, p.kind)) {
            add('providers', c.level, c.message, c.advice?.join('; '));
          }
        } catch (err) {
          add('providers', 'warn', `${p.id} (${p.kind}): ${toRuneError(err).message}`);
        }
      }
    } finally {
      registry.dispose();
    }
  } catch (err) {
    add('providers', 'error', toRuneError(err).message, `Fix ${configFile()}`);
  }

  const copilot = locateCopilotServer();
  if (copilot)
    add(
      'copilot',
      'ok',
      `Copilot language server: ${copilot.path} (${SERVER_SOURCES[copilot.source]})`,
    );
  else
    add(
      'copilot',
      'info',
      'Copilot language server not found (only needed for Copilot)',
      COPILOT_INSTALL_HINT,
    );

  // Installed is not enough: many containers refuse the namespaces bwrap needs.
  const bwrap = detectBwrap();
  if (bwrap.usable)
    add('sandbox', 'ok', `bubblewrap: ${bwrap.path} (filesystem and network isolation available)`);
  else
    add(
      'sandbox',
      'warn',
      `no usable sandbox (${bwrap.reason ?? 'bwrap failed'}): plugins and hub servers that ask for the sandbox are not run unless you allow them to run with your rights`,
      bwrap.path
        ? 'Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or the AppArmor userns rule), or set plugins.sandbox.allow_unsandboxed / mcp.hub.allow_unsandboxed'
        : 'Install bubblewrap (Debian: apt install bubblewrap)',
    );
  return out;
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('Check the installation (the checks of :checkhealth rune, from a shell).')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const checks = await runChecks();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(checks, null, 2)}\n`);
      } else {
        let section = '';
        for (const c of checks) {
          if (c.section !== section) {
            section = c.section;
            process.stdout.write(`${section}\n`);
          }
          process.stdout.write(`  ${c.level.toUpperCase().padEnd(5)} ${c.message}\n`);
          if (c.advice && c.level !== 'ok') process.stdout.write(`        → ${c.advice}\n`);
        }
      }
      if (checks.some((c) => c.level === 'error')) process.exitCode = EXIT.failed;
    });
}
