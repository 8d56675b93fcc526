// Classic remote-plugin entry for users of :UpdateRemotePlugins. It registers
// the same :Rune* commands as plugin/rune.lua and loads the same host core
// (dist/host/rplugin.js); set `vim.g.rune_rplugin = 1` so plugin/rune.lua
// leaves the commands to this entry.
'use strict';
const path = require('node:path');

const corePath = path.resolve(__dirname, '..', '..', '..', 'dist', 'host', 'rplugin.js');
let core;
function load() {
  core ??= require(corePath);
  return core;
}

// The commands: the same table plugin/rune.lua reads (each row names its implementation in
// lua/rune/commands.lua). The node-client passes on nargs, range and complete; bang and the
// range count are added to the spec below.
const COMMANDS = require('../../../lua/rune/commands.json');

module.exports = (plugin) => {
  plugin.setOptions({ dev: false });

  plugin.registerFunction(
    'RuneRequest',
    async ([method, args]) => load().request(plugin.nvim, method, args || []),
    { sync: true },
  );
  plugin.registerFunction(
    'RuneNotify',
    async ([method, args]) => load().notify(plugin.nvim, method, args || []),
    { sync: false },
  );

  for (const { name, impl, nargs = '0', range, bang, complete } of COMMANDS) {
    // As plugin/rune.lua: completion runs in lua/rune/commands.lua.
    const completion = complete
      ? { complete: `customlist,v:lua.require'rune.commands'.completers.${name}` }
      : {};
    plugin.registerCommand(
      name,
      async (fargs, ...more) => {
        // In remote/define.vim's order: the line range, the bang, the eval value.
        const o = { args: (fargs || []).join(' ') };
        if (range) [o.line1, o.line2] = more.shift();
        if (bang) o.bang = more.shift() === 1;
        if (range) o.range = Number(more.shift());
        await plugin.nvim.lua('require("rune.commands")[...](select(2, ...))', [impl, o]);
      },
      { sync: false, nargs, ...(range ? { range: '' } : {}), ...completion },
    );
    // The node-client passes on only range, nargs and complete; Neovim's remote/define.vim
    // also knows bang and eval. `<range>` in the eval expression is the number of lines
    // given (0, 1 or 2), which tells `:RuneChat` from `:.RuneChat`.
    const spec = plugin.commands[name].spec;
    if (bang) spec.opts.bang = '';
    if (range) spec.opts.eval = rangeExpr(name);
  }
};

/**
 * The eval expression giving a range command its `<range>` count. define.vim first defines
 * a bootstrap command whose text holds these options: its first run turns `<range>` into
 * that run's count and `<lt>` into `<`, defines the real command from the result and runs
 * it again with an explicit `<line1>,<line2>` (so there `<range>` is always 2). The first
 * run therefore answers with the count baked in at bootstrap, every later one with its own.
 */
function rangeExpr(name) {
  const flag = `g:rune_rplugin_ran_${name}`;
  return `exists('${flag}') ? <lt>range> : [execute('let ${flag} = 1'), <range>][1]`;
}
