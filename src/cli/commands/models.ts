/** `rune models [provider]`: the models each configured provider offers. */
import { Command } from 'commander';
import { standaloneProviders } from '../standalone.js';
import { interruptSignal, print } from '../output.js';

export function modelsCommand(): Command {
  return new Command('models')
    .description('List the models of the configured providers (or of one).')
    .argument('[provider]', 'a provider name from your config')
    .option('--json', 'print JSON')
    .option(
      '--config <file>',
      'the standalone config file (default $XDG_CONFIG_HOME/rune/config.json)',
    )
    .action(async (provider: string | undefined, opts: { json?: boolean; config?: string }) => {
      const registry = await standaloneProviders(opts.config);
      try {
        const signal = interruptSignal();
        const ids = provider
          ? [registry.get('chat', provider).id]
          : registry.list().map((p) => p.id);
        const out: { provider: string; model: string }[] = [];
        for (const id of ids) {
          for (const m of await registry.get('chat', id).models({ signal })) {
            out.push({ provider: id, model: m.id });
          }
        }
        print(opts.json ?? false, out, () =>
          out.map((m) => `${m.provider}\t${m.model}\n`).join(''),
        );
      } finally {
        registry.dispose();
      }
    });
}
