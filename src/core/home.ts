import * as os from 'node:os';
import * as path from 'node:path';

/**
 * A path the user wrote in a config, with a leading `~` (alone or `~/…`) made the home
 * folder, as a shell would. `~user` forms are left as written. `home` defaults to the
 * process's home folder.
 */
export function expandHome(p: string, home: string = os.homedir()): string {
  return p === '~' || p.startsWith('~/') ? path.join(home, p.slice(1)) : p;
}
