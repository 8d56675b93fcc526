// Classic remote-plugin entry for users of :UpdateRemotePlugins. It registers
// the same :Rune* commands as plugin/rune.lua and loads the same host core
// (dist/nvim/rplugin.js); set `vim.g.rune_rplugin = 1` so plugin/rune.lua
// leaves the commands to this entry.
'use strict';
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const corePath = path.resolve(__dirname, '..', '..', '..', 'dist', 'nvim', 'rplugin.js');
let core;
function load() {
  core ??= import(pathToFileURL(corePath).href);
  return core;
}

// Commands: name -> implementation in lua/rune/commands.lua, and options.
const COMMANDS = [
  ['RuneStatus', 'status', {}],
  ['RuneLog', 'log', {}],
  ['RuneRestart', 'restart', {}],
  ['RuneChat', 'chat', { nargs: '*' }],
  ['RuneStop', 'chat_stop', {}],
  ['RuneChatHistory', 'chat_history', {}],
  ['RuneChatModel', 'chat_model', {}],
  ['RuneEdit', 'edit', { nargs: '*' }],
  ['RuneComplete', 'complete', { nargs: '?' }],
  ['RuneMcp', 'mcp', { nargs: '*' }],
  ['RuneStats', 'stats', { nargs: '?' }],
  ['RunePlugins', 'plugins', { nargs: '*' }],
  ['RuneAuth', 'auth', { nargs: '*' }],
];

module.exports = (plugin) => {
  plugin.setOptions({ dev: false });

  plugin.registerFunction(
    'RuneRequest',
    async ([method, args]) => (await load()).request(plugin.nvim, method, args || []),
    { sync: true },
  );
  plugin.registerFunction(
    'RuneNotify',
    async ([method, args]) => (await load()).notify(plugin.nvim, method, args || []),
    { sync: false },
  );

  for (const [name, impl, opts] of COMMANDS) {
    plugin.registerCommand(
      name,
      async (args) => {
        await plugin.nvim.lua('require("rune.commands")[...]({ args = select(2, ...) or "" })', [
          impl,
          (args || []).join(' '),
        ]);
      },
      { sync: false, nargs: opts.nargs || '0', ...opts },
    );
  }
};
