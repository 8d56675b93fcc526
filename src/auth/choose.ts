import type { Logger } from '../core/log.js';
import { nullLogger } from '../core/log.js';
import { EncryptedFileStore } from './file-store.js';
import { KeytarStore, loadKeytar } from './keytar-store.js';
import { DEFAULT_SERVICE, type SecretStore } from './secret-store.js';

export interface ChooseOptions {
  /** `auto` (default): the keyring when it answers, else the file. */
  backend?: 'auto' | 'keyring' | 'file';
  /** Keyring service name (default `rune.nvim`). */
  service?: string;
  /** Encrypted-file location (default `$XDG_DATA_HOME/rune/secrets.enc`). */
  file?: string;
  /** How long the keyring may take to answer the probe (default 3000 ms). */
  probeTimeoutMs?: number;
  logger?: Logger;
}

export interface ChosenStore {
  store: SecretStore;
  /** Why this store: shown by `:checkhealth rune` and `rune auth status`. */
  reason: string;
}

/**
 * Picks the secret store: the OS keyring when keytar loads and the keyring
 * answers a probe in time, else the secrets file. A keyring that is missing,
 * locked or slow never breaks the caller; the reason says what happened.
 */
export async function chooseSecretStore(opts: ChooseOptions = {}): Promise<ChosenStore> {
  const logger = opts.logger ?? nullLogger;
  const backend = opts.backend ?? 'auto';
  const file = () => new EncryptedFileStore(opts.file ? { file: opts.file } : {});
  if (backend === 'file') {
    return { store: file(), reason: 'the secrets file was chosen in the configuration' };
  }
  const problem = await probeKeyring(opts.service ?? DEFAULT_SERVICE, opts.probeTimeoutMs ?? 3000);
  if ('store' in problem) {
    return { store: problem.store, reason: 'the OS keyring answered' };
  }
  logger.info('keyring unavailable; using the secrets file', { reason: problem.error });
  const reason =
    `the OS keyring is unavailable (${problem.error}); ` +
    'install and unlock a keyring (e.g. gnome-keyring with libsecret) to use it instead';
  if (backend === 'keyring') {
    return { store: file(), reason: `the keyring was asked for but ${reason}` };
  }
  return { store: file(), reason };
}

async function probeKeyring(
  service: string,
  timeoutMs: number,
): Promise<{ store: KeytarStore } | { error: string }> {
  const loaded = await loadKeytar();
  if ('error' in loaded) return loaded;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ error: string }>((resolve) => {
    timer = setTimeout(() => resolve({ error: `no answer within ${timeoutMs} ms` }), timeoutMs);
    timer.unref();
  });
  const probe = loaded.keytar.findCredentials(service).then(
    () => ({ store: new KeytarStore(loaded.keytar, service) }),
    (err: unknown) => ({ error: err instanceof Error ? err.message : String(err) }),
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
