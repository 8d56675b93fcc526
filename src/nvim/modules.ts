import type { HostModule } from './host.js';
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
 * The features the host switches on once it is ready, in order. Each lives in
 * its own file and registers its own requests and notifications.
 */
export function defaultModules(): HostModule[] {
  return [
    authModule,
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
