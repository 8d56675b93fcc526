/**
 * `:RuneEdit` and the prompt library as a host module: serves the
 * `rune.edit.*` requests made by lua/rune/edit.lua, and `rune.prompts.list`.
 */
import { z } from 'zod';
import { nil } from '../../core/nil.js';
import { DisposableStore, toDisposable, type Disposable } from '../../core/disposable.js';
import { defineModule } from '../module.js';
import { providersModule } from '../providers.js';
import { parseChatSection } from '../chat/index.js';
import { promptLibrary } from '../prompts.js';
import { projectInstructions } from '../instructions.js';
import { EditController, applySchema, startSchema } from './controller.js';

const optId = nil(z.number().int());

export function editModule() {
  return defineModule({
    name: 'edit',
    needs: [providersModule],
    config: parseChatSection,
    activate(ctx): Disposable {
      const { host } = ctx;
      const library = promptLibrary(host.config.prompts);
      const edit = new EditController({
        nvim: host.nvim,
        logger: ctx.logger,
        registry: () => ctx.needs.providers.registry(),
        prompts: () => library,
        ...(ctx.config.instructions === false
          ? {}
          : {
              instructions: async (root: string) =>
                (await projectInstructions(host.nvim, root))?.system,
            }),
        config: ctx.config,
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
  });
}
