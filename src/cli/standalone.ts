/**
 * What the CLI uses when it works without a running Neovim: the providers
 * from `$XDG_CONFIG_HOME/rune/config.json` (the same `providers`,
 * `default_provider`, `chat` and `completion` keys as `setup()`, in JSON), or,
 * when it configures none, what this machine offers, found as the host finds
 * it (src/providers/detect.ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError } from '../core/errors.js';
import { nullLogger } from '../core/log.js';
import { which } from '../core/which.js';
import { parseProvidersConfig } from '../providers/config.js';
import {
  detectProviders,
  detectedConfig,
  guidance,
  hasConfiguredProviders,
  type Detection,
} from '../providers/detect.js';
import { findGitHubToken } from '../auth/github.js';
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

/** How the standalone commands got their providers. */
export interface StandaloneSource {
  file: string;
  /** Set when the file configures no provider: what was found on this machine. */
  detection?: Detection;
  /** Set when nothing usable was found: what to install or set, one a line. */
  guidance?: string;
}

/** The first line of the guidance when nothing was found, for a shell user. */
function noModel(file: string): string {
  return `No model found on this machine: configure providers in ${file} (:help rune-cli), or`;
}

/**
 * The provider registry the standalone commands use, and where its providers came from.
 * With nothing configured and nothing found, asking for a provider fails with guidance.
 */
export async function standaloneSetup(
  file = configFile(),
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ registry: ManagedRegistry; source: StandaloneSource }> {
  const config = readStandaloneConfig(file);
  const { store } = await chooseSecretStore({ probeTimeoutMs: 1000 });
  const build = (c: Record<string, unknown>) =>
    createProviderRegistry(parseProvidersConfig(c), {
      logger: nullLogger,
      secrets: store,
      storedKeyAccount: apiKeyAccount,
      kinds: { copilot: copilotAdapterFactory() },
    });
  if (hasConfiguredProviders(config)) return { registry: build(config), source: { file } };
  // The same checks as the host's (src/nvim/providers.ts), with the CLI's secret store.
  const detection = await detectProviders({
    env,
    which: (name) => which(name, env),
    storedKey: async (id) => !!(await store.get(apiKeyAccount(id))),
    copilotToken: async () => (await findGitHubToken({ env, store }))?.source,
    signIn: (id) => `rune auth login ${id}`,
  });
  if (detection.chat || detection.completion) {
    return { registry: build(detectedConfig(config, detection)), source: { file, detection } };
  }
  const text = guidance(detection).replace(/^[^\n]*/, `${noModel(file)}:`);
  const empty = build({ ...config, providers: {} });
  const registry = {
    ...empty,
    get(feature, id) {
      if (id === undefined) throw new ConfigError('providers', text);
      return empty.get(feature, id);
    },
  } as ManagedRegistry;
  return { registry, source: { file, detection, guidance: text } };
}

/** What `source` says about how `feature`'s provider was chosen, for a line on stderr. */
export function detectedLine(source: StandaloneSource, feature: 'chat' | 'completion'): string {
  const pick = source.detection?.[feature];
  if (!pick) return '';
  return `no provider configured in ${source.file}; using ${pick.id} for ${feature} (detected: ${pick.why})`;
}

/** The provider registry the standalone commands use. */
export async function standaloneProviders(file?: string): Promise<ManagedRegistry> {
  return (await standaloneSetup(file)).registry;
}
