import { expandHome } from '../core/home.js';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { which } from '../core/which.js';
import type { MessageConnection } from 'vscode-jsonrpc/node';
import type { Disposable } from '../core/disposable.js';
import { toDisposable } from '../core/disposable.js';
import {
  AbortError,
  AuthError,
  ProviderUnavailableError,
  RuneError,
  TimeoutError,
} from '../core/errors.js';
import { nullLogger, type Logger } from '../core/log.js';
import { PACKAGE_ROOT, VERSION } from '../core/version.js';
import { COPILOT_LS_ENTRY, copilotInstallDir } from './copilot-install.js';

/** How to install the language server; shown wherever it is missing. */
export const COPILOT_INSTALL_HINT =
  'Install it with :RuneCopilotInstall (or `rune auth copilot-install` in a shell: npm ' +
  "installs it into Neovim's data folder), or " +
  '`npm install -g @github/copilot-language-server`, or set auth.copilot.server to its ' +
  'language-server.js or native binary.';

export interface CopilotServerOptions {
  /** Configured path to `language-server.js` or a native `copilot-language-server` binary. */
  server?: string;
  /** Node used for a `.js` server (default: the Node running Rune). */
  node?: string;
  /** Folders whose node_modules are searched (default: Rune's package root). */
  roots?: string[];
  /** Where :RuneCopilotInstall installs (default: `copilotInstallDir(env)`). */
  installDir?: string;
  /** Environment for the child (default: this process's). */
  env?: NodeJS.ProcessEnv;
  /** Sent with `workspace/didChangeConfiguration` (e.g. `http.proxy`, `github-enterprise.uri`). */
  settings?: Record<string, unknown>;
  /** The editor, as the server reports it to GitHub. */
  editorInfo?: { name: string; version: string };
  /** Least time between two automatic completion requests (default 500 ms). */
  minIntervalMs?: number;
  /** Bound on sign-in and status requests (default 30 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
}

/** Where the server was found and how to run it. */
export interface LocatedServer {
  command: string;
  args: string[];
  source: 'config' | 'installed' | 'node_modules' | 'PATH';
  path: string;
}

/** Where a located server came from, in words (for :checkhealth and `rune doctor`). */
export const SERVER_SOURCES: Record<LocatedServer['source'], string> = {
  config: 'auth.copilot.server',
  installed: "installed by :RuneCopilotInstall in Neovim's data folder",
  node_modules: "Rune's node_modules",
  PATH: 'PATH',
};
const BIN =
  process.platform === 'win32' ? 'copilot-language-server.cmd' : 'copilot-language-server';

/**
 * Finds the server: the configured path, then the one :RuneCopilotInstall put in Neovim's
 * data folder, then `<root>/node_modules`, then PATH.
 */
export function locateCopilotServer(opts: CopilotServerOptions = {}): LocatedServer | undefined {
  const node = opts.node ?? process.execPath;
  const asCommand = (p: string, source: LocatedServer['source']): LocatedServer =>
    /\.[cm]?js$/.test(p)
      ? { command: node, args: [p, '--stdio'], source, path: p }
      : { command: p, args: ['--stdio'], source, path: p };
  if (opts.server) {
    const p = expandHome(opts.server);
    return fs.existsSync(p) ? asCommand(path.resolve(p), 'config') : undefined;
  }
  const installed = path.join(
    opts.installDir ?? copilotInstallDir(opts.env ?? process.env),
    COPILOT_LS_ENTRY,
  );
  if (fs.existsSync(installed)) return asCommand(installed, 'installed');
  for (const root of opts.roots ?? [PACKAGE_ROOT]) {
    const p = path.join(root, COPILOT_LS_ENTRY);
    if (fs.existsSync(p)) return asCommand(p, 'node_modules');
  }
  const p = which(BIN, opts.env ?? process.env);
  return p ? { command: p, args: ['--stdio'], source: 'PATH', path: p } : undefined;
}

/** `checkStatus`' answer: `OK` when signed in with Copilot access. */
export interface CopilotStatus {
  status: 'OK' | 'NotSignedIn' | 'NotAuthorized' | 'AlreadySignedIn' | string;
  user?: string;
}

/** What `signIn` answers: the device code to show, or that nothing needs doing. */
export type SignInPrompt =
  | { status: 'AlreadySignedIn'; user?: string }
  | {
      status: 'PromptUserDeviceFlow';
      userCode: string;
      verificationUri: string;
      expiresIn?: number;
      command: { command: string; arguments?: unknown[]; title?: string };
    };

/** An inline completion item as the server sends it (kept whole for the telemetry notifications). */
export interface InlineItem {
  insertText: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  command?: { command: string; arguments?: unknown[]; title?: string };
}

/** The document a completion is asked for. Positions are LSP (UTF-16) positions. */
export interface InlineDocument {
  uri: string;
  languageId: string;
  text: string;
  line: number;
  character: number;
  tabSize?: number;
  insertSpaces?: boolean;
}

/** The status the server last pushed (`didChangeStatus`). */
export interface ServerStatus {
  kind: 'Normal' | 'Error' | 'Warning' | 'Inactive' | string;
  message: string;
  busy?: boolean;
}

const MAX_OPEN_DOCS = 16;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new AbortError());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new AbortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A client of the official GitHub Copilot language server
 * (`@github/copilot-language-server`, not bundled with Rune), spoken to over
 * LSP on the child's stdio with vscode-jsonrpc. It follows the server's
 * documented protocol: `initialize` with editorInfo/editorPluginInfo,
 * `checkStatus`, the device-flow `signIn` + `github.copilot.finishDeviceFlow`,
 * `signInWithGithubToken`, `textDocument/inlineCompletion` over
 * didOpen/didChange documents, and the `textDocument/didShowCompletion`,
 * `didPartiallyAcceptCompletion` and `didAcceptCompletionItem` notifications.
 *
 * Automatic completion requests are spaced at least `minIntervalMs` apart:
 * Copilot suspends accounts that flood it.
 */
/** vscode-jsonrpc, loaded with the first server started (the host starts without it). */
type Rpc = typeof import('vscode-jsonrpc/node');
let rpcModule: Rpc | undefined;

export class CopilotLanguageServer {
  private readonly docs = new Map<string, { version: number; text: string }>();
  private nextAutomaticAt = 0;
  private lastStatus: ServerStatus | undefined;
  private readonly statusListeners = new Set<(s: ServerStatus) => void>();
  private exited: { code: number | null; signal: string | null } | undefined;
  private readonly exitWaiters = new Set<() => void>();

  private constructor(
    private readonly child: ChildProcess,
    private readonly rpc: Rpc,
    private readonly conn: MessageConnection,
    readonly located: LocatedServer,
    private readonly opts: CopilotServerOptions,
    private readonly logger: Logger,
  ) {}

  /** Spawns the server and completes the LSP handshake. */
  static async start(opts: CopilotServerOptions = {}): Promise<CopilotLanguageServer> {
    const logger = opts.logger ?? nullLogger;
    const located = locateCopilotServer(opts);
    if (!located) {
      throw new ProviderUnavailableError(
        `The GitHub Copilot language server was not found${opts.server ? ` at ${opts.server}` : ''}. ${COPILOT_INSTALL_HINT}`,
        undefined,
      );
    }
    const child = spawn(located.command, located.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawned) {
      throw new ProviderUnavailableError(
        `Could not start the Copilot language server (${located.path}): ${spawned.message}. ${COPILOT_INSTALL_HINT}`,
        undefined,
        { cause: spawned },
      );
    }
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      // Node prints experimental-feature warnings here; they are noise for users.
      if (!/ExperimentalWarning|--trace-warnings/.test(d)) {
        logger.debug('copilot stderr', { text: d.slice(0, 500) });
      }
    });
    // A CommonJS package: its exports are the default export of the ES namespace.
    if (!rpcModule) {
      const m = (await import('vscode-jsonrpc/node')) as Rpc & { default?: Rpc };
      rpcModule = m.default ?? m;
    }
    const rpc = rpcModule;
    const conn = rpc.createMessageConnection(
      new rpc.StreamMessageReader(child.stdout!),
      new rpc.StreamMessageWriter(child.stdin!),
    );
    const ls = new CopilotLanguageServer(child, rpc, conn, located, opts, logger);
    ls.wire();
    conn.listen();
    try {
      await ls.handshake();
    } catch (err) {
      await ls.dispose();
      throw err;
    }
    return ls;
  }

  private wire(): void {
    const { conn, child, logger } = this;
    child.once('exit', (code, signal) => {
      this.exited = { code, signal };
      logger.info('copilot language server exited', { code, signal });
      for (const w of this.exitWaiters) w();
      conn.dispose();
    });
    conn.onNotification('window/logMessage', (p: { type: number; message: string }) => {
      if (p.type <= 2) logger.debug('copilot', { type: p.type, message: p.message.slice(0, 500) });
    });
    conn.onNotification('didChangeStatus', (p: ServerStatus) => {
      this.lastStatus = { kind: p.kind, message: p.message ?? '', busy: p.busy };
      for (const l of this.statusListeners) l(this.lastStatus);
    });
    conn.onRequest('workspace/configuration', (p: { items?: { section?: string }[] }) =>
      (p.items ?? []).map((i) =>
        i.section ? (this.opts.settings?.[i.section] ?? null) : (this.opts.settings ?? {}),
      ),
    );
    // Rune shows sign-in URLs itself; the server must not open anything on its own.
    conn.onRequest('window/showDocument', () => ({ success: false }));
    conn.onRequest('window/showMessageRequest', (p: { message?: string }) => {
      logger.info('copilot message', { message: p.message });
      return null;
    });
    conn.onRequest(() => null);
    conn.onNotification(() => undefined);
    conn.onError(([err]) => logger.warn('copilot connection error', { err }));
  }

  private async handshake(): Promise<void> {
    const editor = this.opts.editorInfo ?? { name: 'Neovim', version: 'unknown' };
    await this.request(
      'initialize',
      {
        processId: process.pid,
        workspaceFolders: null,
        capabilities: { workspace: { workspaceFolders: false, configuration: true } },
        initializationOptions: {
          editorInfo: editor,
          editorPluginInfo: { name: 'rune.nvim', version: VERSION },
        },
      },
      { timeoutMs: this.opts.requestTimeoutMs ?? 30_000, what: 'Starting Copilot' },
    );
    await this.conn.sendNotification('initialized', {});
    await this.conn.sendNotification('workspace/didChangeConfiguration', {
      settings: this.opts.settings ?? {},
    });
  }

  /** True until the server process exits. */
  get alive(): boolean {
    return !this.exited;
  }

  /** The status the server last announced, if any. */
  get serverStatus(): ServerStatus | undefined {
    return this.lastStatus;
  }

  onStatus(fn: (s: ServerStatus) => void): Disposable {
    this.statusListeners.add(fn);
    return toDisposable(() => this.statusListeners.delete(fn));
  }

  /** Sends a request bounded by a timeout and an optional signal; maps failures to RuneErrors. */
  private async request<T>(
    method: string,
    params: unknown,
    opts: { timeoutMs?: number; signal?: AbortSignal; what: string },
  ): Promise<T> {
    if (this.exited) throw this.exitError();
    if (opts.signal?.aborted) throw new AbortError();
    const cts = new this.rpc.CancellationTokenSource();
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    let onExit: (() => void) | undefined;
    const guard = new Promise<never>((_, reject) => {
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => {
          cts.cancel();
          reject(
            new TimeoutError(
              `${opts.what} got no answer from the Copilot language server within ` +
                `${Math.round(opts.timeoutMs! / 1000)} s. Check the network connection (and ` +
                'auth.copilot.settings.http.proxy behind a proxy), then try again.',
              'total',
            ),
          );
        }, opts.timeoutMs);
      }
      onAbort = () => {
        cts.cancel();
        reject(new AbortError());
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      onExit = () => reject(this.exitError());
      this.exitWaiters.add(onExit);
    });
    try {
      return await Promise.race([this.conn.sendRequest<T>(method, params, cts.token), guard]);
    } catch (err) {
      if (err instanceof RuneError) throw err;
      if (err instanceof this.rpc.ResponseError) {
        throw new ProviderUnavailableError(`${opts.what} failed: ${err.message}`, undefined, {
          cause: err,
        });
      }
      if (this.exited) throw this.exitError();
      throw err;
    } finally {
      clearTimeout(timer);
      if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
      if (onExit) this.exitWaiters.delete(onExit);
      cts.dispose();
    }
  }

  private exitError(): ProviderUnavailableError {
    const e = this.exited;
    return new ProviderUnavailableError(
      `The Copilot language server stopped (${e?.signal ?? `exit code ${e?.code ?? '?'}`}). ` +
        'Rune starts it again on the next request; see :RuneLog if it keeps stopping.',
      undefined,
    );
  }

  /** Asks whether a GitHub account with Copilot access is signed in. */
  async checkStatus(opts: { signal?: AbortSignal } = {}): Promise<CopilotStatus> {
    const r = await this.request<{ status: string; user?: string }>(
      'checkStatus',
      {},
      {
        ...opts,
        timeoutMs: this.opts.requestTimeoutMs ?? 30_000,
        what: 'Checking the Copilot status',
      },
    );
    return { status: r.status, ...(r.user ? { user: r.user } : {}) };
  }

  /** Starts the server's device flow: returns the code to show, or that the user is signed in. */
  async signIn(opts: { signal?: AbortSignal } = {}): Promise<SignInPrompt> {
    try {
      return await this.request<SignInPrompt>(
        'signIn',
        {},
        { ...opts, timeoutMs: this.opts.requestTimeoutMs ?? 30_000, what: 'Copilot sign-in' },
      );
    } catch (err) {
      throw this.signInError(err);
    }
  }

  /**
   * Waits for the user to enter the code (the server polls GitHub), via the
   * command `signIn` returned (`github.copilot.finishDeviceFlow`).
   */
  async finishSignIn(
    command: { command: string; arguments?: unknown[] },
    opts: { signal?: AbortSignal; timeoutMs?: number } = {},
  ): Promise<CopilotStatus> {
    try {
      const r = await this.request<CopilotStatus | null>(
        'workspace/executeCommand',
        { command: command.command, arguments: command.arguments ?? [] },
        { signal: opts.signal, timeoutMs: opts.timeoutMs ?? 900_000, what: 'Copilot sign-in' },
      );
      return r ?? (await this.checkStatus(opts));
    } catch (err) {
      throw this.signInError(err);
    }
  }

  /** Signs the server in with a GitHub OAuth token Rune already holds. */
  async signInWithGithubToken(
    githubToken: string,
    user: string,
    opts: { signal?: AbortSignal } = {},
  ): Promise<CopilotStatus> {
    try {
      await this.request(
        'signInWithGithubToken',
        { githubToken, user },
        { ...opts, timeoutMs: this.opts.requestTimeoutMs ?? 30_000, what: 'Copilot sign-in' },
      );
    } catch (err) {
      throw this.signInError(err);
    }
    return this.checkStatus(opts);
  }

  async signOut(opts: { signal?: AbortSignal } = {}): Promise<CopilotStatus> {
    return this.request<CopilotStatus>(
      'signOut',
      {},
      {
        ...opts,
        timeoutMs: this.opts.requestTimeoutMs ?? 30_000,
        what: 'Copilot sign-out',
      },
    );
  }

  private signInError(err: unknown): RuneError {
    if (err instanceof AbortError || err instanceof TimeoutError) return err;
    const detail =
      err instanceof Error ? err.message.replace(/^Copilot sign-in failed: /, '') : String(err);
    return new AuthError(
      `Copilot sign-in failed: ${detail}. Check the network connection to GitHub (behind a ` +
        'proxy, set auth.copilot.settings.http.proxy), then run :RuneAuth copilot login again.',
      { cause: err, provider: 'copilot' },
    );
  }

  /** Opens the document or sends its new full text; closes the least recently used beyond a few. */
  private async sync(doc: InlineDocument): Promise<number> {
    const open = this.docs.get(doc.uri);
    if (open) {
      this.docs.delete(doc.uri);
      if (open.text !== doc.text) {
        open.version += 1;
        open.text = doc.text;
        await this.conn.sendNotification('textDocument/didChange', {
          textDocument: { uri: doc.uri, version: open.version },
          contentChanges: [{ text: doc.text }],
        });
      }
      this.docs.set(doc.uri, open);
      return open.version;
    }
    this.docs.set(doc.uri, { version: 1, text: doc.text });
    await this.conn.sendNotification('textDocument/didOpen', {
      textDocument: { uri: doc.uri, languageId: doc.languageId, version: 1, text: doc.text },
    });
    while (this.docs.size > MAX_OPEN_DOCS) {
      const oldest = this.docs.keys().next().value as string;
      this.docs.delete(oldest);
      await this.conn.sendNotification('textDocument/didClose', { textDocument: { uri: oldest } });
    }
    return 1;
  }

  /**
   * Inline completions at the document's position. `automatic` requests
   * (typing, not an explicit ask) wait for the minimum interval; an abort
   * while waiting sends nothing.
   */
  async inlineCompletion(
    doc: InlineDocument,
    opts: { signal?: AbortSignal; automatic?: boolean } = {},
  ): Promise<InlineItem[]> {
    if (opts.automatic !== false) {
      const wait = this.nextAutomaticAt - Date.now();
      if (wait > 0) await sleep(wait, opts.signal);
      this.nextAutomaticAt = Date.now() + (this.opts.minIntervalMs ?? 500);
    }
    if (opts.signal?.aborted) throw new AbortError();
    const version = await this.sync(doc);
    try {
      const r = await this.request<{ items?: InlineItem[] } | InlineItem[] | null>(
        'textDocument/inlineCompletion',
        {
          textDocument: { uri: doc.uri, version },
          position: { line: doc.line, character: doc.character },
          context: { triggerKind: opts.automatic === false ? 1 : 2 },
          formattingOptions: { tabSize: doc.tabSize ?? 4, insertSpaces: doc.insertSpaces ?? true },
        },
        {
          signal: opts.signal,
          timeoutMs: this.opts.requestTimeoutMs ?? 30_000,
          what: 'Copilot completion',
        },
      );
      return Array.isArray(r) ? r : (r?.items ?? []);
    } catch (err) {
      if (
        err instanceof ProviderUnavailableError &&
        /NotSignedIn|Not authenticated|NotAuthorized/.test(err.message)
      ) {
        throw new AuthError(
          'Copilot is not signed in (or this account has no Copilot access). Run :RuneAuth copilot login.',
          { cause: err, provider: 'copilot' },
        );
      }
      throw err;
    }
  }

  /** Tells the server a completion was shown (`textDocument/didShowCompletion`). */
  async didShow(item: InlineItem): Promise<void> {
    if (this.exited) return;
    await this.conn.sendNotification('textDocument/didShowCompletion', { item });
  }

  /** Tells the server a completion was accepted: partly (`acceptedLength` UTF-16 units) or whole. */
  async didAccept(item: InlineItem, acceptedLength?: number): Promise<void> {
    if (this.exited) return;
    if (acceptedLength !== undefined && acceptedLength < item.insertText.length) {
      await this.conn.sendNotification('textDocument/didPartiallyAcceptCompletion', {
        item,
        acceptedLength,
      });
      return;
    }
    if (item.command) {
      await this.request(
        'workspace/executeCommand',
        { command: item.command.command, arguments: item.command.arguments ?? [] },
        { timeoutMs: 10_000, what: 'Copilot acceptance' },
      );
    }
  }

  /** Shuts the server down politely, then kills it if it lingers. */
  async dispose(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      this.exitWaiters.add(resolve);
    });
    try {
      await this.request('shutdown', null, { timeoutMs: 2000, what: 'Stopping Copilot' });
      await this.conn.sendNotification('exit');
    } catch {
      // It is going away either way.
    }
    const term = setTimeout(() => this.child.kill('SIGTERM'), 1000);
    const kill = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(term);
    clearTimeout(kill);
  }
}
