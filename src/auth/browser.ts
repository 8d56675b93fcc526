import { spawn } from 'node:child_process';

/**
 * Opens `url` in the user's browser with the platform's opener (`open`,
 * `xdg-open`, `cmd /c start`). Resolves false when none could be started, so
 * the caller prints the URL instead. `RUNE_BROWSER=none` turns opening off.
 */
export function openBrowser(url: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env.RUNE_BROWSER === 'none') return Promise.resolve(false);
  const [cmd, args] =
    env.RUNE_BROWSER !== undefined && env.RUNE_BROWSER !== ''
      ? [env.RUNE_BROWSER, [url]]
      : process.platform === 'darwin'
        ? ['open', [url]]
        : process.platform === 'win32'
          ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]]
          : ['xdg-open', [url]];
  return new Promise((resolve) => {
    try {
      const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}
