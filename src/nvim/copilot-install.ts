/**
 * `:RuneCopilotInstall [version]`: installs the Copilot language server into Neovim's data
 * folder (src/auth/copilot-install.ts) with progress under the key `copilot.install`,
 * cancelled by `:RuneCopilotInstall!` or by cancelling the progress message.
 *
 * Notifications: `rune.copilot.install(version?)`, `rune.copilot.install_cancel()`.
 */
import { installCopilotServer, type InstallStep } from '../auth/copilot-install.js';
import { disposeSharedCopilotServers } from '../auth/copilot-service.js';
import { DisposableStore, toDisposable, type Disposable } from '../core/disposable.js';
import { toRuneError } from '../core/errors.js';
import type { ReadyHost } from './host.js';
import { showProgress } from './progress.js';

const KEY = 'copilot.install';
const TITLE = 'install Copilot language server';

/** Registers the notifications; `configured` is auth.copilot.server, which wins when set. */
export function copilotInstallCommands(host: ReadyHost, configured?: string): Disposable {
  const d = new DisposableStore();
  let running: AbortController | undefined;
  const show = (
    text: string,
    status: 'running' | 'success' | 'failed' | 'cancel',
    percent?: number,
  ) =>
    showProgress(host, KEY, {
      title: TITLE,
      text,
      status,
      ...(percent !== undefined ? { percent } : {}),
    });

  const install = async (version: string | undefined) => {
    if (running) {
      void host.nvim
        .lua('require("rune.util").notify(..., vim.log.levels.WARN)', [
          'the Copilot language server is being installed already; :RuneCopilotInstall! cancels',
        ])
        .catch(() => undefined);
      return;
    }
    const ac = new AbortController();
    running = ac;
    try {
      const done = await installCopilotServer({
        ...(version ? { version } : {}),
        signal: ac.signal,
        onProgress: (s: InstallStep) => void show(`[${s.step}/${s.of}] ${s.text}`, 'running'),
      });
      host.logger.info('copilot language server installed', { ...done });
      // A server already running (an older one, or one from PATH) gives way to this one.
      await disposeSharedCopilotServers();
      const note = configured ? ` (auth.copilot.server is set, so ${configured} is used)` : '';
      await show(`installed ${done.version}: ${done.path}${note}`, 'success', 100);
    } catch (err) {
      const e = toRuneError(err);
      host.logger.warn('copilot install failed', { code: e.code, message: e.message });
      await show(
        ac.signal.aborted ? 'cancelled; nothing was installed' : e.message,
        ac.signal.aborted ? 'cancel' : 'failed',
      );
    } finally {
      running = undefined;
    }
  };

  d.add(
    host.onNotification('rune.copilot.install', ([version]) => {
      void install(typeof version === 'string' && version.trim() ? version.trim() : undefined);
    }),
  );
  d.add(host.onNotification('rune.copilot.install_cancel', () => running?.abort()));
  d.add(toDisposable(() => running?.abort()));
  return d;
}
