import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { writeFileAtomic } from '../core/atomic-file.js';
import { AuthError } from '../core/errors.js';
import { withFileLock } from '../core/file-lock.js';
import type { SecretStore } from './secret-store.js';

/** The default secrets-file location: `$XDG_DATA_HOME/rune/secrets.enc`. */
export function defaultSecretsFile(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_DATA_HOME ||
    (process.platform === 'win32' && env.LOCALAPPDATA
      ? env.LOCALAPPDATA
      : path.join(os.homedir(), '.local', 'share'));
  return path.join(base, 'rune', 'secrets.enc');
}

/** Facts that tie the file key to this user on this machine. */
export function machineBinding(): string {
  let machineId = '';
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      machineId = fs.readFileSync(f, 'utf8').trim();
      if (machineId) break;
    } catch {
      // try the next one
    }
  }
  const user = os.userInfo();
  return [machineId || os.hostname(), String(user.uid), user.username, user.homedir].join('\0');
}

interface FileFormat {
  v: 1;
  kdf: { name: 'scrypt'; salt: string; N: number; r: number; p: number };
  iv: string;
  tag: string;
  data: string;
}

const SCRYPT = { N: 1 << 15, r: 8, p: 1 };

function deriveKey(
  binding: string,
  salt: Buffer,
  N: number,
  r: number,
  p: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(`rune-secrets\0${binding}`, salt, 32, { N, r, p, maxmem: 256 * N * r }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

export interface EncryptedFileStoreOptions {
  file?: string;
  /** Overrides the user/machine binding (tests use it to simulate another machine). */
  binding?: string;
}

/** What protects the secrets file, said plainly wherever the file store is reported. */
export const FILE_STORE_PROTECTION =
  'only its 0600 mode protects it: any program running as you can read it and recover the ' +
  'secrets, because the key it is scrambled with is derived from facts on this machine, not ' +
  'from a secret';

/**
 * Secrets in one file, for machines without an OS keyring. The content is
 * AES-256-GCM under a key derived with scrypt from facts about the user and
 * the machine (machine id, uid, user name, home) and a random salt in the
 * file. Those facts are not secret, so this is scrambling, not protection:
 * what keeps other users out is the file's 0600 mode (FILE_STORE_PROTECTION).
 * It does make a copied file or a stray backup useless without those facts.
 * Writes are atomic and serialised across processes by a lock file.
 */
export class EncryptedFileStore implements SecretStore {
  readonly kind = 'file' as const;
  readonly file: string;
  readonly description: string;
  private readonly binding: string;
  private queue: Promise<unknown> = Promise.resolve();
  private keyCache: { salt: string; key: Buffer } | undefined;

  constructor(opts: EncryptedFileStoreOptions = {}) {
    this.file = opts.file ?? defaultSecretsFile();
    this.binding = opts.binding ?? machineBinding();
    this.description = `secrets file ${this.file} (mode 0600)`;
  }

  get(account: string): Promise<string | undefined> {
    return this.serial(async () => (await this.read()).get(account));
  }

  set(account: string, secret: string): Promise<void> {
    return this.update(async () => {
      const map = await this.read();
      map.set(account, secret);
      await this.write(map);
    });
  }

  delete(account: string): Promise<boolean> {
    return this.update(async () => {
      const map = await this.read();
      if (!map.delete(account)) return false;
      await this.write(map);
      return true;
    });
  }

  list(): Promise<string[]> {
    return this.serial(async () => [...(await this.read()).keys()].sort());
  }

  /**
   * A read-modify-write, under the lock file so that another process (the host
   * and `rune auth`) cannot write between our read and our write.
   */
  private update<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(() => withFileLock(this.file, fn));
  }

  /** One operation at a time, so a read-modify-write never interleaves with another. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async key(salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
    const id = `${salt.toString('base64')}:${N}:${r}:${p}`;
    if (this.keyCache?.salt === id) return this.keyCache.key;
    const key = await deriveKey(this.binding, salt, N, r, p);
    this.keyCache = { salt: id, key };
    return key;
  }

  private async read(): Promise<Map<string, string>> {
    let raw: string;
    try {
      raw = await fs.promises.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
      throw err;
    }
    const unreadable = (why: string, cause?: unknown) =>
      new AuthError(
        `The secrets file ${this.file} cannot be read (${why}). It may come from another user or ` +
          `machine. Move it aside and sign in again with \`rune auth login <provider>\`.`,
        { cause },
      );
    let doc: FileFormat;
    try {
      doc = JSON.parse(raw) as FileFormat;
      if (doc.v !== 1 || doc.kdf?.name !== 'scrypt') throw new Error('unknown format');
    } catch (err) {
      throw unreadable('not a Rune secrets file', err);
    }
    const salt = Buffer.from(doc.kdf.salt, 'base64');
    const key = await this.key(salt, doc.kdf.N, doc.kdf.r, doc.kdf.p);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(doc.iv, 'base64'));
      decipher.setAAD(Buffer.from('rune-secrets-v1'));
      decipher.setAuthTag(Buffer.from(doc.tag, 'base64'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(doc.data, 'base64')),
        decipher.final(),
      ]).toString('utf8');
      return new Map(Object.entries(JSON.parse(plain) as Record<string, string>));
    } catch (err) {
      throw unreadable('it does not decrypt for this user on this machine', err);
    }
  }

  private async write(map: Map<string, string>): Promise<void> {
    // A fresh salt and IV on every write: nothing about the key is reused across versions.
    const salt = randomBytes(16);
    const key = await this.key(salt, SCRYPT.N, SCRYPT.r, SCRYPT.p);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from('rune-secrets-v1'));
    const data = Buffer.concat([
      cipher.update(JSON.stringify(Object.fromEntries(map)), 'utf8'),
      cipher.final(),
    ]);
    const doc: FileFormat = {
      v: 1,
      kdf: { name: 'scrypt', salt: salt.toString('base64'), ...SCRYPT },
      iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
      data: data.toString('base64'),
    };
    await writeFileAtomic(this.file, JSON.stringify(doc) + '\n', { mode: 0o600 });
  }
}
