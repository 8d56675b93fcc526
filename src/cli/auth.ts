/**
 * `rune auth login|logout|status <provider>`: API keys and the GitHub
 * Copilot sign-in from a terminal, into the same secret store the host uses;
 * `rune auth copilot-install [version]` installs the Copilot language server
 * where :RuneCopilotInstall does.
 * API keys come from a prompt that does not echo, or from stdin when it is
 * not a terminal (`pass show openai | rune auth login openai`).
 */
import { Command, Option } from 'commander';
import { AbortError, AuthError } from '../core/errors.js';
import { openBrowser } from '../auth/browser.js';
import { chooseSecretStore, type ChosenStore } from '../auth/choose.js';
import { FILE_STORE_PROTECTION } from '../auth/file-store.js';
import {
  COPILOT_INSTALL_HINT,
  CopilotLanguageServer,
  locateCopilotServer,
} from '../auth/copilot-ls.js';
import {
  fetchGitHubUser,
  findGitHubToken,
  pollDeviceToken,
  requestDeviceCode,
} from '../auth/github.js';
import {
  COPILOT_LS_PACKAGE,
  COPILOT_LS_VERSION,
  installCopilotServer,
} from '../auth/copilot-install.js';
import { COPILOT_GITHUB_ACCOUNT, apiKeyAccount, oauthAccount } from '../auth/secret-store.js';

/** The terminal the command talks to (tests pass their own streams). */
export interface CliIo {
  input: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  output: NodeJS.WritableStream;
  /** Prompts and progress; stdout stays clean for scripts. */
  errors: NodeJS.WritableStream;
}

interface StoreOpts {
  store: 'auto' | 'keyring' | 'file';
  file?: string;
}

const defaultIo = (): CliIo => ({
  input: process.stdin,
  output: process.stdout,
  errors: process.stderr,
});

/**
 * Reads one line without echoing it. Node has no hidden prompt built in and
 * the project takes no dependency for it: raw mode, with Backspace, Enter,
 * Ctrl-C (cancels) and Ctrl-U (clears) handled here.
 */
export function readHidden(io: CliIo, prompt: string): Promise<string> {
  const { input } = io;
  io.errors.write(prompt);
  return new Promise((resolve, reject) => {
    let value = '';
    const done = (err?: Error) => {
      input.removeListener('data', onData);
      input.setRawMode?.(false);
      input.pause();
      io.errors.write('\n');
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer | string) => {
      for (const ch of String(chunk)) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return done();
        if (ch === '\u0003') return done(new AbortError('Cancelled.'));
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1);
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    input.setRawMode?.(true);
    input.setEncoding?.('utf8');
    input.on('data', onData);
    input.resume();
  });
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of input) text += String(chunk);
  return text;
}

function storeOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--store <kind>', 'where secrets live')
        .choices(['auto', 'keyring', 'file'])
        .default('auto'),
    )
    .option('--file <path>', 'the secrets file (default $XDG_DATA_HOME/rune/secrets.enc)');
}

async function open(opts: StoreOpts): Promise<ChosenStore> {
  return chooseSecretStore({ backend: opts.store, ...(opts.file ? { file: opts.file } : {}) });
}

async function copilotLogin(
  io: CliIo,
  chosen: ChosenStore,
  opts: { githubUrl: string; apiUrl: string; server?: string },
): Promise<void> {
  const code = await requestDeviceCode({ githubUrl: opts.githubUrl });
  const opened = await openBrowser(code.verificationUri);
  io.errors.write(
    `Enter the code ${code.userCode} at ${code.verificationUri}` +
      `${opened ? ' (opened in your browser)' : ''}. Waiting…\n`,
  );
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  process.once('SIGINT', onSigint);
  let token: string;
  try {
    token = await pollDeviceToken(code, { githubUrl: opts.githubUrl, signal: ac.signal });
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  const user = await fetchGitHubUser(token, { apiUrl: opts.apiUrl });
  await chosen.store.set(COPILOT_GITHUB_ACCOUNT, token);
  io.output.write(
    `Signed in to GitHub as ${user}; the token is in the ${chosen.store.description}.\n`,
  );
  const located = locateCopilotServer(opts.server ? { server: opts.server } : {});
  if (!located) {
    io.output.write(
      `For Copilot completions, install the language server: ${COPILOT_INSTALL_HINT}\n`,
    );
    return;
  }
  const ls = await CopilotLanguageServer.start({ server: located.path });
  try {
    const st = await ls.signInWithGithubToken(token, user);
    io.output.write(`Copilot language server: ${st.status}\n`);
  } catch (err) {
    io.errors.write(
      `The Copilot language server did not take the sign-in: ${(err as Error).message}\n`,
    );
  } finally {
    await ls.dispose();
  }
}

/** The `auth` command with its `login`, `logout` and `status` subcommands. */
export function authCommand(io: CliIo = defaultIo()): Command {
  const auth = new Command('auth').description(
    'Sign in to AI providers: API keys and GitHub Copilot, kept in the OS keyring or a 0600 file.',
  );

  storeOptions(
    auth
      .command('login')
      .description('store an API key for <provider>, or sign in to GitHub for copilot')
      .argument('<provider>', 'the provider name from your setup(), or copilot'),
  )
    .option('--github-url <url>', 'GitHub (Enterprise) web URL for copilot', 'https://github.com')
    .option('--api-url <url>', 'GitHub API URL for copilot', 'https://api.github.com')
    .option('--server <path>', 'the Copilot language server to hand the sign-in to')
    .action(
      async (
        provider: string,
        opts: StoreOpts & { githubUrl: string; apiUrl: string; server?: string },
      ) => {
        const chosen = await open(opts);
        if (provider === 'copilot') return copilotLogin(io, chosen, opts);
        const key = (
          io.input.isTTY
            ? await readHidden(io, `API key for ${provider} (not shown): `)
            : await readAll(io.input)
        ).trim();
        if (!key) throw new AuthError(`No API key was given for ${provider}; nothing was stored.`);
        await chosen.store.set(apiKeyAccount(provider), key);
        io.output.write(`Stored the API key for ${provider} in the ${chosen.store.description}.\n`);
      },
    );

  storeOptions(
    auth
      .command('logout')
      .description('forget the secret stored for <provider>')
      .argument('<provider>', 'the provider name, copilot, or an OAuth sign-in name'),
  ).action(async (provider: string, opts: StoreOpts) => {
    const { store } = await open(opts);
    const accounts =
      provider === 'copilot'
        ? [COPILOT_GITHUB_ACCOUNT]
        : [apiKeyAccount(provider), oauthAccount(provider)];
    let removed = false;
    for (const a of accounts) removed = (await store.delete(a)) || removed;
    io.output.write(
      removed
        ? `Forgot the secret for ${provider}.${provider === 'copilot' ? '' : ' (OAuth tokens are not revoked from here: use :RuneAuth in Neovim for that.)'}\n`
        : `Nothing was stored for ${provider}.\n`,
    );
  });

  storeOptions(
    auth
      .command('status')
      .description('say which secret store is in use and what it holds')
      .argument('[provider]', 'only this provider'),
  ).action(async (provider: string | undefined, opts: StoreOpts) => {
    const chosen = await open(opts);
    io.output.write(`Secret store: ${chosen.store.description}\n  (${chosen.reason})\n`);
    if (chosen.store.kind === 'file') io.output.write(`  Note: ${FILE_STORE_PROTECTION}.\n`);
    const accounts = await chosen.store.list();
    const lines: string[] = [];
    for (const a of accounts) {
      const [kind, name] = a.startsWith('api-key/')
        ? ['API key', a.slice(8)]
        : a.startsWith('oauth/')
          ? ['OAuth tokens', a.slice(6)]
          : a === COPILOT_GITHUB_ACCOUNT
            ? ['GitHub token', 'copilot']
            : ['secret', a];
      if (!provider || provider === name) lines.push(`  ${name}: ${kind} stored`);
    }
    if (!provider || provider === 'copilot') {
      const found = await findGitHubToken({ store: chosen.store });
      if (found && found.source !== "Rune's secret store") {
        lines.push(`  copilot: GitHub token from ${found.source}`);
      }
    }
    io.output.write(lines.length ? `${lines.join('\n')}\n` : '  nothing stored\n');
  });

  auth
    .command('copilot-install')
    .description(
      "install the Copilot language server with npm into Neovim's data folder (Ctrl-C cancels)",
    )
    .argument(
      '[version]',
      `the version (default ${COPILOT_LS_VERSION}, the one Rune is tested with)`,
    )
    .action(async (version: string | undefined) => {
      const ac = new AbortController();
      const onSigint = () => ac.abort();
      process.once('SIGINT', onSigint);
      let last = 0;
      try {
        const done = await installCopilotServer({
          ...(version ? { version } : {}),
          signal: ac.signal,
          again: 'rune auth copilot-install',
          // One line per step; the download's running size only where a terminal shows it.
          onProgress: (s) => {
            const tty = (io.errors as { isTTY?: boolean }).isTTY;
            if (s.step === last && !tty) return;
            io.errors.write(
              `${tty && s.step === last ? '\r\x1b[K' : last ? '\n' : ''}[${s.step}/${s.of}] ${s.text}`,
            );
            last = s.step;
          },
        });
        io.errors.write('\n');
        io.output.write(`Installed ${COPILOT_LS_PACKAGE} ${done.version}: ${done.path}\n`);
      } catch (err) {
        if (last) io.errors.write('\n');
        throw err;
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
    });

  return auth;
}

/** Adds `rune auth …` to a program. */
export function registerAuthCommand(program: Command, io?: CliIo): Command {
  program.addCommand(authCommand(io));
  return program;
}
