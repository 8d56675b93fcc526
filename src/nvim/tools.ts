/**
 * The host's one ToolRegistry, shared by every module that adds tools (the MCP
 * server's editor and AI tools, the MCP hub's `server__tool`, plugins) and by
 * those that use them (the MCP server publishes them, the chat offers them to
 * models). Created on first use, once per host.
 */
import { ToolRegistry } from '../tools/registry.js';
import type { ReadyHost } from './host.js';

const registries = new WeakMap<ReadyHost, ToolRegistry>();

/** The host's tool registry, created on first use. */
export function getToolRegistry(host: ReadyHost): ToolRegistry {
  let r = registries.get(host);
  if (!r) {
    r = new ToolRegistry();
    registries.set(host, r);
  }
  return r;
}
