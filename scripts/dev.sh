#!/usr/bin/env bash
# Installs and builds Rune, then launches Neovim with Rune loaded (and nothing
# else from your config), for trying it out: `npm start [-- files…]`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
nvim=nvim
if ! command -v nvim >/dev/null || ! nvim --headless --clean +'lua os.exit(vim.fn.has("nvim-0.10") == 1 and 0 or 1)' >/dev/null 2>&1; then
  nvim="$PWD/.cache/nvim/sid/bin/nvim"
fi
exec "$nvim" --clean --cmd "set rtp^=$PWD" -c "lua require('rune').setup({})" "$@"
