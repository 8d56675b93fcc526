import type { SecretStore } from './secret-store.js';

/** The part of keytar's API Rune uses. */
interface Keytar {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
  findCredentials(service: string): Promise<{ account: string; password: string }[]>;
}

/**
 * Loads keytar, an optional dependency with a native part: it may be missing
 * or fail to load (no prebuilt binary, no libsecret). Either way the host must
 * keep working, so this returns the reason instead of throwing.
 */
export async function loadKeytar(): Promise<{ keytar: Keytar } | { error: string }> {
  // A variable specifier keeps bundlers and tsc from requiring the package to exist.
  const name = 'keytar';
  try {
    const mod = (await import(name)) as Partial<Keytar> & { default?: Partial<Keytar> };
    // keytar is CommonJS. Node's ESM import puts the whole exports object on `default` and
    // names only what its static analysis finds (just `getPassword`); other loaders (a test
    // runner, a bundler) give the named exports. Take whichever shape is complete.
    const k = [mod, mod.default].find(hasKeytarApi);
    if (!k) {
      return {
        error:
          'keytar loaded but does not have the expected API ' +
          `(${KEYTAR_API.join(', ')}); reinstall it with \`npm install keytar\``,
      };
    }
    return { keytar: k };
  } catch (err) {
    return {
      error: `keytar is not available: ${err instanceof Error ? err.message : String(err)}`,
    };
  }
}

const KEYTAR_API = ['getPassword', 'setPassword', 'deletePassword', 'findCredentials'] as const;

function hasKeytarApi(m: unknown): m is Keytar {
  return (
    typeof m === 'object' &&
    m !== null &&
    KEYTAR_API.every((f) => typeof (m as Record<string, unknown>)[f] === 'function')
  );
}

/** Secrets in the OS keyring (Secret Service on Linux, Keychain on macOS, Credential Vault on Windows). */
export class KeytarStore implements SecretStore {
  readonly kind = 'keyring' as const;
  readonly description: string;

  constructor(
    private readonly keytar: Keytar,
    private readonly service: string,
  ) {
    const where =
      process.platform === 'darwin'
        ? 'macOS Keychain'
        : process.platform === 'win32'
          ? 'Windows Credential Vault'
          : 'Secret Service';
    this.description = `OS keyring (${where}, service "${service}")`;
  }

  async get(account: string): Promise<string | undefined> {
    return (await this.keytar.getPassword(this.service, account)) ?? undefined;
  }

  async set(account: string, secret: string): Promise<void> {
    await this.keytar.setPassword(this.service, account, secret);
  }

  async delete(account: string): Promise<boolean> {
    return this.keytar.deletePassword(this.service, account);
  }

  async list(): Promise<string[]> {
    const creds = await this.keytar.findCredentials(this.service);
    return creds.map((c) => c.account).sort();
  }
}
