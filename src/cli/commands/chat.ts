/** `rune chat "<prompt>"`: asks a model and streams the answer to stdout. */
import { Command } from 'commander';
import { ChatRunner } from '../../chat/runner.js';
import { detectedLine, standaloneSetup } from '../standalone.js';
import { CliError, EXIT, interruptSignal } from '../output.js';

export function chatCommand(): Command {
  return new Command('chat')
    .description(
      'Ask a model; the answer streams to stdout. Reads the prompt from stdin when it is "-".',
    )
    .argument('<prompt...>', 'the question (several words are joined)')
    .option('-p, --provider <name>', 'the provider (default: the chat default of your config)')
    .option('-m, --model <model>', "the model (default: the provider's)")
    .option('-s, --system <text>', 'a system prompt')
    .option('--json', 'print one JSON event per line (text, thinking, notice, tool_call, done)')
    .option(
      '--config <file>',
      'the standalone config file (default $XDG_CONFIG_HOME/rune/config.json)',
    )
    .action(
      async (
        words: string[],
        opts: {
          provider?: string;
          model?: string;
          system?: string;
          json?: boolean;
          config?: string;
        },
      ) => {
        let prompt = words.join(' ');
        if (prompt === '-') {
          const chunks: Buffer[] = [];
          for await (const c of process.stdin) chunks.push(c as Buffer);
          prompt = Buffer.concat(chunks).toString('utf8');
        }
        const { registry, source } = await standaloneSetup(opts.config);
        try {
          if (source.guidance && !opts.provider) {
            throw new CliError(source.guidance, EXIT.unavailable);
          }
          const provider = registry.get('chat', opts.provider);
          // Says which provider was picked, and why, when the config names none.
          const why = opts.provider ? '' : detectedLine(source, 'chat');
          if (why) process.stderr.write(`rune: ${why}\n`);
          const signal = interruptSignal();
          let ended = false;
          // The chat's own loop, with no tools offered: the CLI has no editor to act on.
          const runner = new ChatRunner({
            provider,
            model: opts.model,
            system: opts.system,
            messages: [{ role: 'user', content: prompt }],
            signal,
          });
          for await (const ev of runner) {
            if (ev.type === 'end') {
              break;
            } else if (opts.json) {
              process.stdout.write(`${JSON.stringify(ev)}\n`);
            } else if (ev.type === 'text') {
              process.stdout.write(ev.delta);
            } else if (ev.type === 'notice') {
              process.stderr.write(`rune: ${ev.message}\n`);
            } else if (ev.type === 'done') {
              ended = true;
              process.stdout.write('\n');
              if (process.stderr.isTTY) {
                process.stderr.write(
                  `(${ev.model}: ${ev.usage.inputTokens} in, ${ev.usage.outputTokens} out)\n`,
                );
              }
            }
          }
          if (!ended && !opts.json) process.stdout.write('\n');
        } finally {
          registry.dispose();
        }
      },
    );
}
