#!/usr/bin/env bash
# Installs the npm dependencies (`npm ci`) when node_modules is missing or was
# installed from another package-lock.json. Shared by `npm start` and `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.rune-lock-hash
hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  printf 'rune: npm ci\n' >&2
  npm ci --no-audit --no-fund >&2
  echo "$hash" >"$stamp"
fi
