/**
 * The provider registry as a host service. PLACEHOLDER: replaced by the
 * providers work (issue: AI providers); kept minimal so features compile.
 */
import type { ReadyHost } from './host.js';
import type { ProviderRegistry } from '../providers/types.js';
import { ConfigError } from '../core/errors.js';

const registries = new WeakMap<ReadyHost, ProviderRegistry>();

/** The registry built from the user's `providers` config, created on first use. */
export function getProviderRegistry(host: ReadyHost): ProviderRegistry {
  let r = registries.get(host);
  if (!r) {
    r = {
      get() {
        throw new ConfigError('providers', 'no provider is configured');
      },
      list: () => [],
      usage: () => [],
      dispose() {},
    };
    registries.set(host, r);
  }
  return r;
}

/** Replaces the registry (tests use it to inject one). */
export function setProviderRegistry(host: ReadyHost, registry: ProviderRegistry): void {
  registries.get(host)?.dispose();
  registries.set(host, registry);
}
