import { z } from 'zod';

const ms = z.number().int().min(0);

/**
 * The `host` section of setup() (`:help rune-options`): how lua/rune/host.lua
 * starts and restarts the host. The host itself reads only shutdown_grace_ms.
 */
export const hostConfigSchema = z.object({
  node: z
    .string()
    .min(1)
    .default('node')
    .describe('Node.js executable: a name on `PATH` or a path'),
  start_timeout_ms: ms
    .default(10_000)
    .describe(
      'How long to wait for the host to become ready, and a request for a feature still starting, ms',
    ),
  log_level: z
    .enum(['debug', 'info', 'warn', 'error'])
    .default('info')
    .describe('Least level logged'),
  log_file: z.string().min(1).optional().describe("Log file (default: `stdpath('log')/rune.log`)"),
  restart_backoff_ms: ms
    .default(500)
    .describe('First delay before restarting a crashed host, ms; doubles per crash'),
  shutdown_grace_ms: ms
    .default(3000)
    .describe('When the host gets SIGTERM or SIGINT, how long work in flight may finish, ms'),
  max_restarts: ms
    .default(5)
    .describe('Crashes in a row after which Rune stops restarting the host'),
  restart_window_ms: ms
    .default(60_000)
    .describe(
      'A host that stayed ready this long before it crashed starts a new row of crashes, ms',
    ),
  autostart: z
    .union([z.boolean(), ms])
    .default(false)
    .describe('Start the host shortly after startup (true, or a delay in ms)'),
});
