/**
 * `:RuneEdit` and the prompt library as a host module: serves the
 * `rune.edit.*` requests made by lua/rune/edit.lua, and `rune.prompts.list`.
 */
import { z } from 'zod';
import { parseSection } from '../../core/config.js';
import { nil } from '../../core/nil.js';
import { DisposableStore, toDisposable, type Disposable } from '../../core/disposable.js';
import type { HostModule, ReadyHost } from '../host.js';
import { getProviderRegistry } from '../providers.js';
import { chatConfigSchema } from '../chat/controller.js';
import { promptLibrary } from '../prompts.js';
import { projectInstructions } from '../instructions.js';
import { EditController, applySchema, startSchema } from './controller.js';

const optId = nil(z.number().int());

export function editModule(): HostModule {
  return {
    name: 'edit',
    activate(host: ReadyHost): Disposable {
      const chat = parseSection('chat', chatConfigSchema, host.config.chat);
      const library = promptLibrary(host.config.prompts);
      const edit = new EditController({
        nvim: host.nvim,
        logger: host.logger.child({ module: 'edit' }),
        registry: () => getProviderRegistry(host),
        prompts: () => library,
        ...(chat.instructions === false
          ? {}
          : {
              instructions: async (root: string) =>
                (await projectInstructions(host.nvim, root))?.system,
            }),
        config: chat,
      });
      const store = new DisposableStore();
      store.add(host.onRequest('rune.edit.start', ([a]) => edit.start(startSchema.parse(a))));
      store.add(host.onRequest('rune.edit.apply', ([a]) => edit.apply(applySchema.parse(a))));
      store.add(host.onRequest('rune.edit.stop', ([id]) => edit.stop(optId.parse(id))));
      store.add(host.onNotification('rune.edit.stop', ([id]) => edit.stop(optId.parse(id))));
      store.add(
        host.onRequest('rune.prompts.list', () =>
          library.map((p) => ({ name: p.name, description: p.description, edit: p.edit })),
        ),
      );
      store.add(
        host.addHealth('edit', () => [
          {
            level: 'ok',
            message: `:RuneEdit and ${library.length} prompts: ${library.map((p) => `/${p.name}`).join(' ')}`,
          },
        ]),
      );
      store.add(toDisposable(() => edit.dispose()));
      return store;
    },
  };
}
