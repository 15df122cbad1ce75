#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) slim base image from Debian packages and imports it into podman,
# for machines that cannot pull debian:12-slim from a registry. Uses the host's apt sources
# (mmdebstrap reads them when no mirror is given). Where a registry is reachable, skip this and
# pass --base docker.io/library/debian:12-slim to build-image.sh instead.
#
# Usage: deploy/container/make-base-image.sh [--arch amd64|arm64] [--tag NAME] [--force]
# Default tag: localhost/edgelm-debian:12-slim-<arch>. Exits at once when that image exists (no --force).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
arch="$(dpkg --print-architecture)"
tag=""
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch="$2"; shift 2 ;;
    --tag) tag="$2"; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "unknown option: $1 (expected --arch, --tag, --force)" >&2; exit 2 ;;
  esac
done
tag="${tag:-localhost/edgelm-debian:12-slim-$arch}"
if [ "$force" = 0 ] && podman image exists "$tag"; then
  echo "$tag exists"
  exit 0
fi
command -v mmdebstrap >/dev/null || { echo "mmdebstrap is missing: apt-get install mmdebstrap" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# minbase + what debian:12-slim leaves out: docs, man pages, locales (copyright files stay), and
# the usrmerge package with the perl it pulls in (mmdebstrap's merged-usr hook lays /usr out instead).
mmdebstrap --quiet --variant=minbase --architectures="$arch" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
  bookworm "$work/rootfs.tar"
podman import --quiet --change 'CMD ["/bin/bash"]' "$work/rootfs.tar" "$tag" >/dev/null
echo "$tag imported ($(podman image inspect --format '{{.Size}}' "$tag") bytes)"
