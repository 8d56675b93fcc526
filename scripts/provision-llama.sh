#!/usr/bin/env bash
# Provisions llama.cpp's `llama-server` and the `gguf` Python package from
# Debian's archive into a private prefix, without touching the system:
# `provision-llama.sh <dest>`. Writes <dest>/bin/llama-server (the binary runs
# through the prefix's own dynamic loader, like the provisioned Neovims, and
# finds ggml's CPU backends in its own folder) and <dest>/bin/python3
# (the system's python3 with the prefix's gguf on PYTHONPATH). Idempotent.
set -euo pipefail

dest=${1:?usage: provision-llama.sh <dest>}
suite=sid
arch_dir=usr/lib/x86_64-linux-gnu

write_wrappers() {
  local prefix
  prefix=$(cd "$1" && pwd -P)/root
  patchelf --set-interpreter "$prefix/$arch_dir/ld-linux-x86-64.so.2" \
    --force-rpath --set-rpath "$prefix/$arch_dir/llama:$prefix/$arch_dir" "$prefix/usr/bin/llama-server"
  # The llama libraries carry a RUNPATH into /usr, which would hide the
  # executable's RPATH from their own dependencies.
  local so
  for so in "$prefix/$arch_dir"/lib{llama,mtmd,ggml}*.so.* "$prefix/$arch_dir"/llama/*.so; do
    [ -L "$so" ] || patchelf --remove-rpath "$so"
  done
  # ggml picks the CPU backend variant that fits this CPU among the ones in
  # the executable's folder (Debian keeps them in ggml/backends0).
  for so in "$prefix/$arch_dir"/ggml/backends0/libggml-*.so; do
    ln -sf "../lib/x86_64-linux-gnu/ggml/backends0/$(basename "$so")" "$prefix/usr/bin/$(basename "$so")"
  done
  mkdir -p "$1/bin"
  cat >"$1/bin/llama-server" <<'WRAP'
#!/bin/sh
prefix=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)/root
exec "$prefix/usr/bin/llama-server" "$@"
WRAP
  chmod +x "$1/bin/llama-server"
  cat >"$1/bin/python3" <<'WRAP'
#!/bin/sh
prefix=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)/root
PYTHONPATH="$prefix/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}" exec python3 "$@"
WRAP
  chmod +x "$1/bin/python3"
}

works() {
  "$1/bin/llama-server" --version >/dev/null 2>&1 && "$1/bin/python3" -c 'import gguf' 2>/dev/null
}

if [ -x "$dest/root/usr/bin/llama-server" ]; then
  write_wrappers "$dest"
  works "$dest" && exit 0
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
echo "rune: fetching llama.cpp from Debian $suite into $dest" >&2
apt-get "${apt_opts[@]}" -qq update >&2
# llama-server and every library it needs, resolved by apt itself; debconf,
# wget/curl and perl are for the package's maintainer scripts, not the binary.
mapfile -t pkgs < <(apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
  --no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends llama.cpp-tools |
  grep -v '^ ' | grep -v '^<' | grep -Ev '^(debconf|cdebconf|wget|curl|perl|perl-base|dpkg)' | sort -u)
# python3-gguf is pure Python: only the package itself, run by the system's
# python3 (its numpy comes from the system).
pkgs+=(python3-gguf)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}" >&2)
for deb in "$work"/debs/*.deb; do
  dpkg -x "$deb" "$work/root"
done

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/root" "$dest/root"
write_wrappers "$dest"
"$dest/bin/llama-server" --version 2>&1 | head -2 >&2
