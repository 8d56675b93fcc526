/** Shared helpers for provider tests: a registry from a config, event collection. */
import { createMemoryLogger } from '../../../src/core/log.js';
import { parseProvidersConfig } from '../../../src/providers/config.js';
import { copilotAdapterFactory } from '../../../src/providers/copilot.js';
import { createProviderRegistry } from '../../../src/providers/registry.js';
import type { ChatEvent } from '../../../src/providers/types.js';

/** Fast retries so fault tests stay quick. */
export const FAST = { retry: { base_delay_ms: 5, max_delay_ms: 20 } };

export function registryFor(
  providers: Record<string, unknown>,
  extra: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = {},
) {
  const logger = createMemoryLogger();
  const registry = createProviderRegistry(parseProvidersConfig({ providers, ...extra }), {
    logger,
    env,
    kinds: { copilot: copilotAdapterFactory() },
  });
  return { registry, logger };
}

export async function collect(it: AsyncIterable<ChatEvent>): Promise<ChatEvent[]> {
  const out: ChatEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

export function textOf(events: ChatEvent[]): string {
  return events.map((e) => (e.type === 'text' ? e.delta : '')).join('');
}
