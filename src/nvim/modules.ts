import type { HostModule } from './host.js';

/**
 * The features the host switches on once it is ready, in order. Each lives in
 * its own file and registers its own requests and notifications.
 */
export function defaultModules(): HostModule[] {
  return [];
}
