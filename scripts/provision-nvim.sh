#!/usr/bin/env bash
# Provisions a Neovim from Debian's archive into a private prefix, without
# touching the system: `provision-nvim.sh <suite> <dest>` where suite is
# `trixie` (Neovim 0.10.x) or `sid` (the newest release). Writes an `nvim`
# wrapper at <dest>/bin/nvim that runs the binary through the prefix's own
# dynamic loader, so the newer libc it needs does not replace the system's.
set -euo pipefail

suite=${1:?usage: provision-nvim.sh <trixie|sid> <dest>}
dest=${2:?usage: provision-nvim.sh <trixie|sid> <dest>}

# The provisioned binary is pointed at its own loader with patchelf (below).
if ! command -v patchelf >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends patchelf >&2
  else
    echo "rune: provisioning Neovim needs patchelf: install it (apt-get install patchelf) or put Neovim >= 0.10 on PATH" >&2
    exit 1
  fi
fi

write_wrapper() {
  local prefix
  prefix=$(cd "$1" && pwd -P)/root
  # Point the binary at the prefix's own loader and libraries (DT_RPATH, which
  # also covers the libraries it loads), so it runs directly: Neovim's TUI
  # starts its server by re-running its own executable, and child processes
  # (the Rune host) keep the system's libc. The compiled-in runtimepath points
  # at /usr/lib/nvim (bundled treesitter parsers); the wrapper adds the
  # prefix's copy.
  patchelf --set-interpreter "$prefix/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --force-rpath --set-rpath "$prefix/usr/lib/x86_64-linux-gnu" "$prefix/usr/bin/nvim"
  mkdir -p "$1/bin"
  cat >"$1/bin/nvim" <<'WRAP'
#!/bin/sh
prefix=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)/root
export VIMRUNTIME="$prefix/usr/share/nvim/runtime"
exec "$prefix/usr/bin/nvim" --cmd "set rtp+=$prefix/usr/lib/nvim" "$@"
WRAP
  chmod +x "$1/bin/nvim"
}

if [ -d "$dest/root/usr/bin" ]; then
  write_wrapper "$dest"
  "$dest/bin/nvim" --version >/dev/null 2>&1 && exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
echo "deb [signed-by=$keyring] http://deb.debian.org/debian $suite main" >"$work/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$work/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "Dir::State::status=/dev/null"
  -o "APT::Sandbox::User=root"
  -o "Debug::NoLocking=1"
)
echo "rune: fetching Neovim from Debian $suite into $dest" >&2
apt-get "${apt_opts[@]}" -qq update >&2
# neovim and everything it needs, resolved by apt itself (package names move
# between releases, e.g. libtree-sitter0.22 -> 0.26).
mapfile -t pkgs < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends neovim |
  grep -v '^ ' | grep -v '^<' | sort -u)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2)
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$work/root"
done

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/root" "$dest/root"
write_wrapper "$dest"
"$dest/bin/nvim" --version | head -1 >&2
