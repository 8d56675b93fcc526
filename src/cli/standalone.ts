/**
 * What the CLI uses when it works without a running Neovim: the providers
 * from `$XDG_CONFIG_HOME/rune/config.json` (the same `providers`,
 * `default_provider`, `chat` and `completion` keys as `setup()`, in JSON), or
 * a local Ollama when there is no such file.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { nullLogger } from '../core/log.js';
import { parseProvidersConfig } from '../providers/config.js';
import { createProviderRegistry, type ManagedRegistry } from '../providers/registry.js';
import { chooseSecretStore } from '../auth/choose.js';
import { apiKeyAccount } from '../auth/secret-store.js';
import { copilotAdapterFactory } from '../providers/copilot.js';

export function configFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env.RUNE_CONFIG) return env.RUNE_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(base, 'rune', 'config.json');
}

/** The standalone config; a missing file is `{}`, a broken one a ConfigError naming it. */
export function readStandaloneConfig(file = configFile()): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError(file, `cannot be read: ${(err as Error).message}`);
  }
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json !== 'object' || json === null || Array.isArray(json)) {
      throw new Error('the top level must be an object');
    }
    return json as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(file, `is not valid: ${(err as Error).message}`);
  }
}

/** The provider registry the standalone commands use. */
export async function standaloneProviders(file?: string): Promise<ManagedRegistry> {
  const config = readStandaloneConfig(file);
  const parsed = parseProvidersConfig(config);
  const { store } = await chooseSecretStore({ probeTimeoutMs: 1000 });
  return createProviderRegistry(parsed, {
    logger: nullLogger,
    secrets: store,
    storedKeyAccount: apiKeyAccount,
    kinds: { copilot: copilotAdapterFactory() },
  });
}
