#!/usr/bin/env bash
# The one test command: installs what the tests need (scripts/setup.sh), then
# type-checks, lints, and runs the whole suite with coverage against two real
# Neovims, inside a private D-Bus session with an unlocked gnome-keyring so the
# keyring tests talk to a real Secret Service.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "== typecheck" >&2
npx tsc --noEmit -p tsconfig.json
echo "== lint" >&2
npx eslint --max-warnings 0 .
npx prettier --check . >/dev/null
node scripts/stylua-check.mjs
if command -v luacheck >/dev/null; then luacheck -q lua plugin; fi

export RUNE_NVIM_010="$PWD/.cache/nvim/trixie/bin/nvim"
export RUNE_NVIM_LATEST="$PWD/.cache/nvim/sid/bin/nvim"
# The sandbox tests fail (rather than test the unsandboxed path) without bwrap.
export RUNE_TEST_BWRAP=1
export RUNE_TEST_COPILOT_LS="$PWD/.cache/copilot-ls/node_modules/@github/copilot-language-server/dist/language-server.js"

echo "== tests" >&2
mkdir -p .cache
report=.cache/vitest-report.json
rm -f "$report"
vitest=(npx vitest run --coverage --reporter=default --reporter=json --outputFile.json="$report" "$@")
status=0
if command -v dbus-run-session >/dev/null && command -v gnome-keyring-daemon >/dev/null; then
  # A private keyring folder: a fresh login keyring, unlocked with a known
  # password, whatever keyrings the machine already has.
  keyrings=$(mktemp -d)
  trap 'rm -rf "$keyrings"' EXIT
  dbus-run-session -- sh -c \
    'echo -n rune-test | XDG_DATA_HOME="$0" gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1; export RUNE_TEST_KEYRING=1; exec "$@"' \
    "$keyrings" "${vitest[@]}" || status=$?
else
  "${vitest[@]}" || status=$?
fi
node scripts/summary.mjs "$report"
exit "$status"
