/**
 * The host's one ToolRegistry as a module's service, shared by every module that
 * adds tools (the MCP server's editor and AI tools, the MCP hub's `server__tool`,
 * plugins) and by those that use them (the MCP server publishes them, the chat
 * offers them to models).
 */
import { toDisposable } from '../core/disposable.js';
import { StateError } from '../core/errors.js';
import { ToolRegistry } from '../tools/registry.js';
import type { ReadyHost } from './host.js';
import { defineModule } from './module.js';

export const toolsModule = defineModule({
  name: 'tools',
  activate() {
    return Object.assign(
      toDisposable(() => undefined),
      { service: new ToolRegistry() },
    );
  },
});

/** The host's tool registry (for tests and callers holding the host). */
export function getToolRegistry(host: ReadyHost): ToolRegistry {
  const r = host.service(toolsModule);
  if (!r)
    throw new StateError('The host runs without its tool registry (the tools module is off).');
  return r;
}
