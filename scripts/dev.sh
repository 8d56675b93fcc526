#!/usr/bin/env bash
# `npm start [-- nvim args…]`: installs only what running Rune needs — the npm
# dependencies, the build, and a Neovim when none >= 0.10 is on PATH — then
# opens Neovim with Rune loaded and nothing else from your config. What only
# the tests need (system packages, a second Neovim, the Copilot language
# server) is installed by `npm test` (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/npm-deps.sh
npm run --silent build >&2
nvim=nvim
if ! command -v nvim >/dev/null || ! nvim --headless --clean +'lua os.exit(vim.fn.has("nvim-0.10") == 1 and 0 or 1)' >/dev/null 2>&1; then
  nvim="$PWD/.cache/nvim/sid/bin/nvim"
  bash scripts/provision-nvim.sh sid .cache/nvim/sid
fi
exec "$nvim" --clean --cmd "set rtp^=$PWD" -c "lua require('rune').setup({})" "$@"
