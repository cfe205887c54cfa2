#!/usr/bin/env bash
# `make demo`: Arca's job end to end on the embedded sample (demo/sample).
# Build a sample image, inspect and copy it (skopeo and umoci read the result), seal it with an
# encrypted web root, start a keeper, register the session, run the sealed image under runc, and
# show the service answering.
set -euo pipefail
cd "$(dirname "$0")/.."
arca=${ARCA_BIN:-$PWD/.build/debug/arca}
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-demo.XXXXXX")
keeper_port=${ARCA_DEMO_KEEPER_PORT:-18443}
service_port=${ARCA_DEMO_PORT:-18080}
container=arca-demo-$$
keeper_pid=
cleanup() {
  runc kill "$container" TERM >/dev/null 2>&1 && sleep 1
  runc delete --force "$container" >/dev/null 2>&1
  [ -n "$keeper_pid" ] && kill "$keeper_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
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
  --config.cmd=-f --config.cmd=-p --config.cmd=$service_port --config.cmd=-h --config.cmd=/var/www \
  --config.exposedports $service_port/tcp >/dev/null
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

step "Start a keeper: its own TLS identity; the pin goes into the sealed image"
"$arca" keeper serve --listen 127.0.0.1:$keeper_port --data "$work/keeper" > "$work/keeper.log" 2>&1 &
keeper_pid=$!
for _ in $(seq 100); do grep -q 'keeper pin' "$work/keeper.log" 2>/dev/null && break; sleep 0.2; done
pin=$(grep -o 'keeper pin (--keeper-pin): [0-9a-f]*' "$work/keeper.log" | awk '{ print $NF }')
[ -n "$pin" ] || { cat "$work/keeper.log" >&2; exit 1; }
echo "keeper https://127.0.0.1:$keeper_port, pin $pin"

step "arca seal: encrypt /var/www, authenticate everything else, keep untouched layers"
SOURCE_DATE_EPOCH=1700000000 "$arca" seal --from "oci:$work/sample:1.0" --to "oci:$work/sealed:1.0" \
  --encrypt /var/www --ephemeral /tmp --session demo/web --allow-sim \
  --keeper "https://127.0.0.1:$keeper_port" --keeper-pin "$pin" \
  --keys "$work/image.key" --session-out "$work/session.yaml"
ls -l "$work/session.yaml" "$work/image.key" | awk '{ print $1, $NF }'

step "arca measure and arca verify: the measurement from the image alone; every chunk checked"
"$arca" measure "oci:$work/sealed:1.0"
"$arca" verify --session "$work/session.yaml" "oci:$work/sealed:1.0"
umoci unpack --image "$work/sealed:1.0" "$work/sealed-bundle" >/dev/null
[ ! -e "$work/sealed-bundle/rootfs/var/www/index.html" ] && echo "/var/www/index.html is only inside the encrypted shield blob"

step "Register the session with the keeper (the keeper holds the key, released only to this measurement)"
"$arca" session create "$work/session.yaml" --keeper "https://127.0.0.1:$keeper_port" --keeper-pin "$pin"

step "arca run: a runc bundle with FUSE for arca-init; this host's sim platform key, registered once"
export ARCA_HOME="$work/home"
"$arca" run --prepare-only --bundle "$work/run" "oci:$work/sealed:1.0"
"$arca" keeper platform add "$work/home/platform.pub.pem" --data "$work/keeper"
runc run --bundle "$work/run" "$container" > "$work/run.log" 2>&1 &
for _ in $(seq 100); do curl -sf -m 1 "http://127.0.0.1:$service_port/" >/dev/null 2>&1 && break; sleep 0.2; done
sed 's/^/  container: /' "$work/run.log"

step "The sealed service answers (its web root decrypted inside, after the keeper checked the measurement)"
curl -s -m 5 "http://127.0.0.1:$service_port/"

step "Done: sealed, attested, served. Stopping the container (SIGTERM reaches the service through arca-init)."
