// What the bundled host gets for `require('winston')`.
//
// The neovim client requires winston when it loads (node_modules/neovim/lib/utils/logger.js),
// which costs a large share of the host's start, but uses it only in getLogger(): the default
// logger of a client attached without one, and of the Buffer/Window/Tabpage objects it decodes
// from Neovim's answers. Rune attaches with its own logger (src/nvim/client-logger.ts), which
// writes to Rune's log; so winston is left out of dist/host/ and this stands in for it. It
// supports exactly what logger.js calls and logs nothing, as the client's own silent console
// transport does when neither NVIM_NODE_LOG_FILE nor ALLOW_CONSOLE is set (those two are not
// honoured by the bundled host: its client traffic goes to Rune's log at level debug).
const silent = () => {};
const none = () => ({});

export const createLogger = ({ level } = {}) => ({
  level: level ?? 'info',
  add() {},
  debug: silent,
  info: silent,
  warn: silent,
  error: silent,
});
export const format = { combine: none, splat: none, timestamp: none, printf: none };
export const transports = {
  File: function File() {},
  Console: function Console() {},
};
