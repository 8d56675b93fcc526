#!/usr/bin/env node
// The host's entry, dist/host/main.js (scripts/bundle.mjs writes it from this file, with
// CORE_HASH the hash of core.js): runs core.js, the host bundle of src/nvim/main.ts.
//
// Node 22.1 and newer keep compiled code themselves (module.enableCompileCache, switched on
// by the host once it is ready): core.js is then an ordinary require(). Older Node compiles
// core.js anew at every start, a few milliseconds of the way to ready: here it is compiled
// with the V8 code cache of the previous start, from Rune's cache folder
// ($XDG_CACHE_HOME/rune/v8-code-cache), keyed by Node's version, the CPU architecture and
// core.js's hash. A cache V8 rejects (other V8 flags, a damaged file) only costs the saving:
// the code compiles as without one. The host writes a new cache once it is ready
// (src/nvim/code-cache.ts), when there was none or V8 rejected it.
// Written here rather than with v8-compile-cache: that package hooks every require() and keeps
// its cache in the shared temp folder; the host needs one file cached, in its own folder.
/* global require, module, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');

const CORE_HASH = '@CORE_HASH@';
const core = path.join(__dirname, 'core.js');

if (typeof Module.enableCompileCache === 'function') {
  require(core);
} else {
  const vm = require('node:vm');
  const os = require('node:os');
  const dir = path.join(
    process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'),
    'rune',
    'v8-code-cache',
  );
  const file = path.join(dir, `core-${process.version}-${process.arch}-${CORE_HASH}.bin`);
  let cachedData;
  try {
    cachedData = fs.readFileSync(file);
  } catch {
    // None yet (or unreadable): compile without.
  }
  // The shebang becomes a comment: the wrapped source keeps its lines (and source map).
  const source = fs.readFileSync(core, 'utf8').replace(/^#!/, '//');
  const script = new vm.Script(Module.wrap(source), { filename: core, cachedData });
  const mod = new Module(core, module);
  mod.filename = core;
  mod.paths = module.paths;
  // The chunks loaded later require('./core.js') for what they share with it: this module.
  require.cache[core] = mod;
  globalThis[Symbol.for('rune.codeCache')] = {
    dir,
    file,
    state: !cachedData ? 'none' : script.cachedDataRejected === true ? 'rejected' : 'used',
    create: () => script.createCachedData(),
  };
  script
    .runInThisContext()
    .call(mod.exports, mod.exports, Module.createRequire(core), mod, core, __dirname);
  mod.loaded = true;
}
