#!/usr/bin/env bash
# Builds (once, then cached) a real Debian 12 base image with Python as an OCI layout:
# mmdebstrap --variant=apt --include=python3-minimal bookworm, packed by umoci.
# Usage: scripts/python-image.sh [CACHE_DIR]   -> prints the OCI reference (oci:DIR:python)
set -euo pipefail
cache=${1:-${ARCA_TEST_CACHE:-$(cd "$(dirname "$0")/.." && pwd)/.build/test-cache}}
layout="$cache/python-oci"
if [ -f "$layout/.complete" ]; then echo "oci:$layout:python"; exit 0; fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/python-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} \
  mmdebstrap --quiet --variant=apt --include=python3-minimal bookworm "$work/rootfs.tar" >&2
umoci init --layout "$work/oci" >&2
umoci new --image "$work/oci:python" >&2
umoci unpack --image "$work/oci:python" "$work/bundle" >&2
tar -C "$work/bundle/rootfs" --numeric-owner -xpf "$work/rootfs.tar"
umoci repack --image "$work/oci:python" "$work/bundle" >&2
umoci config --image "$work/oci:python" --config.cmd python3 --config.env PATH=/usr/local/bin:/usr/bin:/bin >&2
umoci gc --layout "$work/oci" >&2
rm -rf "$layout"
mv "$work/oci" "$layout"
touch "$layout/.complete"
echo "oci:$layout:python"
