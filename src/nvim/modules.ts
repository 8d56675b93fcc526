import type { AnyModule } from './module.js';
import { toolsModule } from './tools.js';
import { completionModule } from './completion/index.js';
import { chatModule } from './chat/index.js';
import { editModule } from './edit/index.js';
import { mcpModule } from './mcp.js';
import { hubModule } from './hub/index.js';
import { providersModule } from './providers.js';
import { pluginsModule } from './plugins.js';
import { statsModule } from './stats.js';
import { authModule } from './auth.js';
import { launcherModule } from './launcher.js';

/**
 * The features the host switches on once it is ready. Each lives in its own file,
 * declares what it needs (the host activates it after those) and registers its own
 * requests and notifications. A module missing here that another needs stops the start.
 */
export function defaultModules(): AnyModule[] {
  return [
    authModule,
    toolsModule,
    providersModule,
    completionModule,
    chatModule(),
    editModule(),
    mcpModule,
    hubModule,
    pluginsModule,
    statsModule,
    launcherModule,
  ];
}
