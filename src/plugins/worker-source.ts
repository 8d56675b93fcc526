/**
 * The code each plugin runs in. It is plain JavaScript handed to
 * `new Worker(source, { eval: true })` (a worker thread) or to `node -e`
 * (a child process in bubblewrap, talking over its IPC channel) rather than
 * a compiled module file, so that the very same runtime works from the
 * TypeScript sources (tests) and from dist/, with no build step or loader in
 * between. One protocol for both: the channel is `parentPort` in a thread and
 * `process` in a child. It stays small: it imports the plugin, describes it,
 * and answers messages.
 */
export const WORKER_SOURCE = String.raw`
'use strict';
const { parentPort } = require('node:worker_threads');
const channel = parentPort || process;
const post = parentPort
  ? (m) => parentPort.postMessage(m)
  : (m) => {
      if (process.connected) process.send(m);
    };
const errOf = (e) => ({
  message: e && e.message ? String(e.message) : String(e),
  code: e && typeof e.code === 'string' ? e.code : undefined,
  stack: e && e.stack ? String(e.stack) : undefined,
});
const FN = '[function]';
function describe(v, depth) {
  if (typeof v === 'function') return FN;
  if (depth > 8 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => describe(x, depth + 1));
  const out = {};
  for (const k of Object.keys(v)) out[k] = describe(v[k], depth + 1);
  return out;
}
const registered = { tool: new Map(), provider: new Map(), command: new Map() };
const calls = new Map();
const execs = new Map();
let nextExec = 1;
let def;
let initialized = false;
const life = new AbortController();

function register(kind, spec) {
  const key = kind === 'provider' ? spec && spec.id : spec && spec.name;
  registered[kind].set(key, spec);
  post({ t: 'register', kind, key, spec: describe(spec, 0) });
  return {
    dispose() {
      if (registered[kind].get(key) === spec) {
        registered[kind].delete(key);
        post({ t: 'unregister', kind, key });
      }
    },
  };
}

function ctxFor(init) {
  const caps = new Set(def.capabilities || []);
  const log = (level) => (msg, fields) => post({ t: 'log', level, msg: String(msg), fields: describe(fields || {}, 0) });
  return Object.freeze({
    id: def.id,
    version: def.version,
    config: Object.freeze(init.config || {}),
    workspace: init.workspace,
    logger: { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') },
    signal: life.signal,
    registerTool: (t) => register('tool', t),
    registerProvider: (p) => register('provider', p),
    registerCommand: (c) => register('command', c),
    exec(command, args, opts) {
      if (!caps.has('exec')) {
        return Promise.reject(new Error('Plugin "' + def.id + '" may not run commands: add "exec" to its capabilities.'));
      }
      const id = nextExec++;
      return new Promise((resolve, reject) => {
        execs.set(id, { resolve, reject });
        post({ t: 'exec', id, command: String(command), args: (args || []).map(String), opts: describe(opts || {}, 0) });
      });
    },
  });
}

async function run(m, ac) {
  const sig = { signal: ac.signal };
  if (m.kind === 'tool') {
    const t = registered.tool.get(m.key);
    if (!t) throw new Error('No tool "' + m.key + '" in plugin "' + def.id + '".');
    return await t.handler(m.args || {}, sig);
  }
  if (m.kind === 'command') {
    const c = registered.command.get(m.key);
    if (!c) throw new Error('No command "' + m.key + '" in plugin "' + def.id + '".');
    return await c.run(m.args || [], sig);
  }
  const p = registered.provider.get(m.key);
  if (!p) throw new Error('No provider "' + m.key + '" in plugin "' + def.id + '".');
  if (typeof p[m.kind] !== 'function') throw new Error('Provider "' + m.key + '" has no ' + m.kind + '().');
  if (m.kind === 'chat') {
    for await (const ev of p.chat(m.args, sig)) {
      if (ac.signal.aborted) break;
      post({ t: 'chunk', id: m.id, event: describe(ev, 0) });
    }
    return null;
  }
  if (m.kind === 'models') return await p.models(sig);
  return await p.complete(m.args, sig);
}

if (!parentPort) {
  // A thread's uncaught error reaches the host as its 'error' event; a child
  // process says what killed it before it exits.
  const fatal = (e) => {
    try {
      process.send({ t: 'fatal', error: errOf(e) }, () => process.exit(70));
    } catch {
      process.exit(70);
    }
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  process.on('disconnect', () => process.exit(0));
}

channel.on('message', async (m) => {
  if (m.t === 'call') {
    const ac = new AbortController();
    calls.set(m.id, ac);
    try {
      const value = await run(m, ac);
      post({ t: 'result', id: m.id, ok: true, value: describe(value === undefined ? null : value, 0) });
    } catch (e) {
      post({ t: 'result', id: m.id, ok: false, error: errOf(e) });
    } finally {
      calls.delete(m.id);
    }
  } else if (m.t === 'cancel') {
    const ac = calls.get(m.id);
    if (ac) ac.abort();
  } else if (m.t === 'exec_result') {
    const p = execs.get(m.id);
    execs.delete(m.id);
    if (p) m.ok ? p.resolve(m.value) : p.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
  } else if (m.t === 'load') {
    // Workers are spawned ahead of need and told which plugin to load later.
    import(m.url).then(
      (mod) => {
        def = mod && mod.default !== undefined ? mod.default : mod;
        post({ t: 'loaded', manifest: describe(def, 0) });
      },
      (e) => post({ t: 'load_failed', error: errOf(e) }),
    );
  } else if (m.t === 'init') {
    try {
      for (const t of def.tools || []) register('tool', t);
      for (const p of def.providers || []) register('provider', p);
      for (const c of def.commands || []) register('command', c);
      initialized = true;
      if (typeof def.initialize === 'function') await def.initialize(ctxFor(m));
      post({ t: 'initialized' });
    } catch (e) {
      post({ t: 'init_failed', error: errOf(e) });
    }
  } else if (m.t === 'shutdown') {
    life.abort();
    for (const ac of calls.values()) ac.abort();
    try {
      if (initialized && def && typeof def.shutdown === 'function') await def.shutdown();
      post({ t: 'shutdown_done' });
    } catch (e) {
      post({ t: 'shutdown_done', error: errOf(e) });
    }
  }
});
`;
