#!/usr/bin/env bash
# Builds the edgelm image from the repository's Containerfile with podman.
# 1. packs Node (npm package node-linux-<arch>) from the npm registry and installs the locked dependencies
#    (`npm ci --ignore-scripts`: all of them for the build stages, production ones for the image) into
#    .container-build/, with the host's npm;
# 2. without --base: builds a Debian 12 slim base from Debian packages (make-base-image.sh);
# 3. podman build (docker format, so the HEALTHCHECK is kept), then prints the image size.
#
# Usage: deploy/container/build-image.sh [--arch amd64|arm64] [--base IMAGE] [--tag NAME]
#   --arch  target architecture (default: this machine's); another one needs qemu-user-static (binfmt)
#   --base  a Debian 12 slim image to build on, e.g. docker.io/library/debian:12-slim (default: built here)
#   --tag   image name (default: localhost/edgelm:latest)
# Layers are cached: an unchanged tree builds in seconds; a change in src/ compiles the gateway again and smoke-tests
# the llama-server kept in a build cache mount (compiled once per llama.cpp version: about 4 minutes on 2 cores).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
node_version=20.20.2
arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
base=""
tag="localhost/edgelm:latest"
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    *) echo "unknown option: $1 (expected --arch, --base, --tag)" >&2; exit 2 ;;
  esac
done
case "$arch" in
  amd64 | x86_64) arch=amd64; node_arch=x64 ;;
  arm64 | aarch64) arch=arm64; node_arch=arm64 ;;
  *) echo "unsupported architecture: $arch (amd64 or arm64)" >&2; exit 2 ;;
esac

cache="$root/.container-build"
mkdir -p "$cache/packs"
pack() { # name@version → path of its tarball in the cache
  local spec="$1" file
  file="$cache/packs/$(echo "$spec" | tr '@/' '--').tgz"
  if [ ! -s "$file" ]; then
    local packed
    packed="$(cd "$cache/packs" && npm pack --silent "$spec")"
    [ "$cache/packs/$packed" = "$file" ] || mv "$cache/packs/$packed" "$file"
  fi
  echo "$file"
}
cp "$(pack "node-linux-$node_arch@$node_version")" "$cache/node.tgz"
# Dependencies, reinstalled when package-lock.json changes.
lock_hash="$(sha256sum "$root/package-lock.json" | cut -c1-16)"
install_deps() { # folder, npm ci flags...
  local dir="$cache/$1"
  shift
  [ "$(cat "$dir/.lock-hash" 2>/dev/null)" = "$lock_hash" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir"
  cp "$root/package.json" "$root/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error "$@")
  echo "$lock_hash" > "$dir/.lock-hash"
}
install_deps deps
install_deps prod --omit=dev

if [ -z "$base" ]; then
  base="localhost/edgelm-debian:12-slim-$arch"
  "$here/make-base-image.sh" --arch "$arch" --tag "$base"
fi

started=$SECONDS
podman build --format docker --network host --platform "linux/$arch" \
  --build-arg "BASE=$base" --tag "$tag" --file "$root/Containerfile" "$root"
size="$(podman image inspect --format '{{.Size}}' "$tag")"
echo "$tag: $((size / 1000000)) MB ($size bytes), built in $((SECONDS - started)) s"
