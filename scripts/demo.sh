#!/usr/bin/env bash
# `make demo`: Arca's job end to end on the embedded sample (demo/sample).
# Today: build a sample image, inspect it, copy it between formats, and have skopeo and umoci
# read what arca wrote. Later stages (seal, keeper, run) are added here as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
arca=${ARCA_BIN:-$PWD/.build/debug/arca}
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Building a sample image from demo/sample with umoci: busybox httpd, then a web root layer"
umoci init --layout "$work/sample" >/dev/null
umoci new --image "$work/sample:1.0" >/dev/null
umoci unpack --image "$work/sample:1.0" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/bin" "$work/bundle/rootfs/var"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for applet in sh httpd ls cat; do ln -sf busybox "$work/bundle/rootfs/bin/$applet"; done
umoci repack --refresh-bundle --image "$work/sample:1.0" "$work/bundle" >/dev/null   # layer 1: the base
cp -r demo/sample/www "$work/bundle/rootfs/var/www"
umoci repack --image "$work/sample:1.0" "$work/bundle" >/dev/null                    # layer 2: the web root
umoci config --image "$work/sample:1.0" --config.entrypoint /bin/httpd \
  --config.cmd=-f --config.cmd=-p --config.cmd=8080 --config.cmd=-h --config.cmd=/var/www \
  --config.exposedports 8080/tcp >/dev/null
echo "oci:$work/sample:1.0"

step "arca inspect: manifest, config and layers (every layer read and verified)"
"$arca" inspect "oci:$work/sample:1.0"

step "arca copy: OCI layout -> docker-archive (what docker save writes)"
"$arca" copy "oci:$work/sample:1.0" "docker-archive:$work/sample.tar:demo/sample:1.0"

step "skopeo reads the archive arca wrote"
skopeo inspect "docker-archive:$work/sample.tar" | jq '{Digest, Architecture, Os, Layers}'

step "arca copy: docker-archive -> OCI layout with zstd layers, and back with gzip"
"$arca" copy --compression zstd "docker-archive:$work/sample.tar" "oci:$work/copy:zstd"
"$arca" copy --compression gzip "oci:$work/copy:zstd" "oci:$work/copy:gzip"
"$arca" inspect --format json "oci:$work/copy:gzip" | jq '{manifestDigest, configDigest, layers: [.layers[] | {digest, mediaType, entries}]}'

step "umoci unpacks arca's layout into the same tree as the original"
umoci unpack --image "$work/sample:1.0" "$work/original" >/dev/null
umoci unpack --image "$work/copy:gzip" "$work/roundtrip" >/dev/null
if diff -r --no-dereference "$work/original/rootfs" "$work/roundtrip/rootfs"; then
  echo "identical: $(find "$work/roundtrip/rootfs" | wc -l) entries"
else
  echo "trees differ" >&2
  exit 1
fi

step "arca seal: encrypt /var/www, authenticate everything else, keep untouched layers"
SOURCE_DATE_EPOCH=1700000000 "$arca" seal --from "oci:$work/sample:1.0" --to "oci:$work/sealed:1.0" \
  --encrypt /var/www --ephemeral /tmp --session demo/web --allow-sim \
  --keys "$work/image.key" --session-out "$work/session.yaml"
ls -l "$work/session.yaml" "$work/image.key" | awk '{ print $1, $NF }'

step "arca measure: the measurement, recomputed from the image alone"
"$arca" measure "oci:$work/sealed:1.0"

step "arca verify: every authenticated chunk, and with the session every encrypted chunk"
"$arca" verify "oci:$work/sealed:1.0"
"$arca" verify --session "$work/session.yaml" "oci:$work/sealed:1.0"

step "The sealed image is an ordinary image: umoci unpacks it; the web root is not in its layers"
umoci unpack --image "$work/sealed:1.0" "$work/sealed-bundle" >/dev/null
ls -A "$work/sealed-bundle/rootfs" "$work/sealed-bundle/rootfs/.arca"
[ ! -e "$work/sealed-bundle/rootfs/var/www/index.html" ] && echo "/var/www/index.html: only inside the encrypted shield blob"
chroot "$work/sealed-bundle/rootfs" /.arca/bin/arca-init --version   # its own loader and libc

step "Done. Next stages (keeper, run) arrive with their issues."
