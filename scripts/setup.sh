#!/usr/bin/env bash
# Installs everything Rune's tests and dev launcher need, idempotently:
# system packages (Debian), npm dependencies, two Neovims (0.10.x and the
# newest release) provisioned from Debian's archive into .cache/nvim,
# llama.cpp's llama-server into .cache/llama, and the
# build. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'rune setup: %s\n' "$*" >&2; }

# System packages: libsecret (keytar's build), a Secret Service (gnome-keyring,
# dbus) for the keyring tests, luacheck for the Lua lint, bubblewrap for the
# plugin sandbox, patchelf for the provisioned Neovims and llama-server,
# numpy for the gguf writer that makes the test model (any numpy will do),
# tmux for the screenshots.
need=()
for pkg in libsecret-1-dev gnome-keyring dbus dbus-daemon lua-check bubblewrap util-linux openssl patchelf tmux; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
python3 -c 'import numpy' 2>/dev/null || need+=(python3-numpy)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$sudo" ] || sudo -n true 2>/dev/null; }; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >&2
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  else
    say "cannot install ${need[*]} (no root); keyring tests will use what is there"
  fi
fi

# npm dependencies, reinstalled when the lock file changes.
bash scripts/npm-deps.sh

# Neovim 0.10.x and the newest release.
bash scripts/provision-nvim.sh trixie .cache/nvim/trixie
bash scripts/provision-nvim.sh sid .cache/nvim/sid

# llama.cpp's llama-server and the gguf writer, for the tests against a real
# model server (test/helpers/llama.ts makes the tiny model on first use).
bash scripts/provision-llama.sh .cache/llama

# The official Copilot language server, for the Copilot tests only (it is
# large and never bundled with Rune; users install it themselves).
copilot_ls_version=1.539.0
if [ ! -f ".cache/copilot-ls/node_modules/@github/copilot-language-server/package.json" ] ||
  ! grep -q "\"version\": \"$copilot_ls_version\"" .cache/copilot-ls/node_modules/@github/copilot-language-server/package.json; then
  say "installing @github/copilot-language-server@$copilot_ls_version into .cache/copilot-ls"
  mkdir -p .cache/copilot-ls
  npm install --prefix .cache/copilot-ls --no-save --no-audit --no-fund --no-package-lock \
    "@github/copilot-language-server@$copilot_ls_version" >&2
fi

say "build"
npm run --silent build >&2
