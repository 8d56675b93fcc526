/**
 * Runs the host core inside the test process, attached to a real headless
 * Neovim. Lua talks to it exactly as to a spawned host (the handshake adopts
 * the test's channel), while the test can reach the host's objects directly
 * and v8 coverage sees the code.
 */
import { createMemoryLogger } from '../../src/core/log.js';
import { StartingHost, type ReadyHost } from '../../src/nvim/host.js';
import { withNeeds, type AnyModule } from '../../src/nvim/module.js';
import { NO_LOCAL_PEERS, type TestNvim } from './nvim.js';

// An in-process host detects providers from this process's environment: keep it off
// the developer's own Ollama and llama-server ports too.
for (const [k, v] of Object.entries(NO_LOCAL_PEERS)) process.env[k] ??= v;

/** Starts `modules` and, before them, the modules they need. */
export async function startInProcessHost(
  t: TestNvim,
  modules: AnyModule[] = [],
): Promise<ReadyHost & { logLines: string[] }> {
  const logger = createMemoryLogger();
  const starting = new StartingHost({ nvim: t.nvim, logger, logFile: null });
  const ready = await starting.ready(withNeeds(modules));
  const close = t.close;
  t.close = async () => {
    await ready.shutdown('test finished').done;
    await close();
  };
  return Object.assign(ready, { logLines: logger.lines });
}
