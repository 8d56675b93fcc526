/**
 * What the server says about each configured model of a provider — whether it offers it,
 * and what it supports (tools, FIM, vision, thinking) — as lines for `:checkhealth rune`
 * and `rune doctor`.
 */
import type { ManagedProvider } from './managed.js';

export interface ModelCheck {
  level: 'ok' | 'warn';
  message: string;
  advice?: string[];
}

const FEATURES = ['tools', 'fim', 'vision', 'thinking'];

/**
 * Per configured model, what the server itself says: whether it offers the model, and
 * what the model supports (tools, FIM, vision, thinking), where the API can tell.
 */
export async function modelChecks(
  provider: ManagedProvider,
  id: string,
  kind: string,
): Promise<ModelCheck[]> {
  const roles = new Map<string, string[]>();
  const add = (m: string | undefined, role: string) => {
    if (m) roles.set(m, [...(roles.get(m) ?? []), role]);
  };
  add(provider.settings.model, 'chat');
  add(provider.settings.fimModel, 'completion');
  const out: ModelCheck[] = [];
  for (const [model, used] of roles) {
    let r;
    try {
      r = await provider.describe(model);
    } catch {
      continue;
    }
    if (!r) return [];
    const what = `${id}: ${model} (${used.join(', ')})`;
    if (!r.exists) {
      // For Ollama, the "not installed" warning above already says what to do.
      if (kind !== 'ollama') {
        out.push({
          level: 'warn',
          message: `${what}: the server does not offer this model${r.note ? `; ${r.note}` : ''}`,
          advice: [`Set providers.${id}.model / fim_model to a model it offers`],
        });
      }
      continue;
    }
    const has = r.supports ?? [];
    const lacks = FEATURES.filter((f) => !has.includes(f));
    const lacksTools = used.includes('chat') && r.supports !== undefined && !has.includes('tools');
    const lacksFim =
      kind === 'ollama' &&
      used.includes('completion') &&
      r.supports !== undefined &&
      !has.includes('fim');
    const advice = [
      ...(lacksTools ? ['Chat will run without tools: pick a model with tool support'] : []),
      ...(lacksFim
        ? [
            'Completion goes through a chat prompt: a FIM model (e.g. qwen2.5-coder) completes better',
          ]
        : []),
    ];
    out.push({
      level: r.note || advice.length ? 'warn' : 'ok',
      message:
        r.supports === undefined
          ? `${what}: offered by the server${r.note ? `; ${r.note}` : ''}`
          : `${what}: supports ${has.length ? has.join(', ') : 'none of tools, fim, vision, thinking'}${lacks.length && has.length ? `; not ${lacks.join(', ')}` : ''}${r.note ? `; ${r.note}` : ''}`,
      ...(advice.length ? { advice } : {}),
    });
  }
  return out;
}
