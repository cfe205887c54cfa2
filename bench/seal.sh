#!/usr/bin/env bash
# Benchmark (issue: arca seal): seal the python3 image plus an app layer of ~200 MB under /app
# (encrypted), against `skopeo copy --encryption-key jwe:…` (ocicrypt) on the same input, in the
# same run; then a re-seal after changing one file of the top layer (the per-layer cache redoes
# only that layer). Prints medians, ratios, peak RSS and MB/s of uncompressed content.
# Full seals start from an empty cache each run (they also pay for filling it). The re-seal
# reuses the cache of the last full seal and writes into that seal's layout, as a CI job pushing
# to the registry that holds the previous seal; "fresh destination" copies every blob again.
# Usage: bench/seal.sh [RUNS] [APP_MB]   (defaults 3 and 200; 1 1900 for the ~2 GiB input; release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-3}
app_mb=${2:-200}
arca=${ARCA_BIN:-$PWD/.build/release/arca}
# Both binaries: the seal ships the arca-init found next to arca (or $ARCA_INIT).
if [ ! -x "$arca" ] || { [ -z "${ARCA_INIT:-}" ] && [ ! -x "$(dirname "$arca")/arca-init" ]; }; then
  swift build -c release --product arca >&2
  swift build -c release --product arca-init >&2
fi
base=$(scripts/python-image.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench-seal.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BENCH_RESULTS=$work/results

# The input: the python image plus a layer with app_mb MB of files under /app (compressible text
# and incompressible data, like code plus a model), packed by umoci.
"$arca" copy --quiet "$base" "oci:$work/in:app" >/dev/null
umoci unpack --image "$work/in:app" "$work/bundle" >/dev/null
mkdir -p "$work/bundle/rootfs/app/models" "$work/bundle/rootfs/app/src"
openssl rand -out "$work/bundle/rootfs/app/models/weights.bin" $((app_mb * 1024 * 1024 * 3 / 4))
for i in $(seq 200); do
  { yes "def handler_$i(request): return {'status': 200, 'id': $i}" || true; } | head -c $((app_mb * 1024 * 1024 / 4 / 200)) > "$work/bundle/rootfs/app/src/module_$i.py"
done
umoci repack --image "$work/in:app" "$work/bundle" >/dev/null
umoci config --image "$work/in:app" --config.cmd python3 --config.cmd /app/src/module_1.py >/dev/null
rm -rf "$work/bundle"
openssl genrsa -out "$work/key.pem" 2048 2>/dev/null
openssl rsa -in "$work/key.pem" -pubout -out "$work/pub.pem" 2>/dev/null
export SOURCE_DATE_EPOCH=1700000000

for i in $(seq "$runs"); do
  rm -rf "$work/arca-out" "$work/skopeo-out" "$work/image.key" "$work/session.yaml" "$work/cache"
  measure arca-seal "$arca" seal --quiet --from "oci:$work/in:app" --to "oci:$work/arca-out:sealed" --encrypt /app \
    --keys "$work/image.key" --session-out "$work/session.yaml" --cache "$work/cache"
  measure skopeo-encrypt skopeo copy -q --encryption-key "jwe:$work/pub.pem" "oci:$work/in:app" "oci:$work/skopeo-out:enc"
done

# Re-seal after one file of the top layer changed (same key).
umoci unpack --image "$work/in:app" "$work/bundle" >/dev/null
echo "# changed" >> "$work/bundle/rootfs/app/src/module_7.py"
umoci repack --image "$work/in:app" "$work/bundle" >/dev/null   # adds a small top layer with the change
for i in $(seq "$runs"); do
  measure arca-reseal "$arca" seal --quiet --from "oci:$work/in:app" --to "oci:$work/arca-out:sealed" --encrypt /app \
    --keys "$work/image.key" --session-out "$work/session2.yaml" --cache "$work/cache"
  rm -rf "$work/arca-out2"
  measure arca-reseal-fresh "$arca" seal --quiet --from "oci:$work/in:app" --to "oci:$work/arca-out2:sealed" --encrypt /app \
    --keys "$work/image.key" --session-out "$work/session2.yaml" --cache "$work/cache"
done
# The re-sealed image from the cache is the image a seal without the cache makes.
"$arca" seal --quiet --from "oci:$work/in:app" --to "oci:$work/arca-out3:sealed" --encrypt /app \
  --keys "$work/image.key" --session-out "$work/session3.yaml" --no-cache --format json | jq -r .image > "$work/nocache.digest"
"$arca" seal --quiet --from "oci:$work/in:app" --to "oci:$work/arca-out2:sealed" --encrypt /app \
  --keys "$work/image.key" --session-out "$work/session2.yaml" --cache "$work/cache" --format json | jq -r .image > "$work/cached.digest"
cmp -s "$work/nocache.digest" "$work/cached.digest" || { echo "re-seal from the cache differs from a seal without it" >&2; exit 1; }

unpacked=$("$arca" inspect --format json "oci:$work/in:app" | jq '.totalUncompressedSize')
a=$(median arca-seal 2); s=$(median skopeo-encrypt 2); r=$(median arca-reseal 2); f=$(median arca-reseal-fresh 2)
echo "seal benchmark: $(machine_line); $runs runs; input $((unpacked / 1048576)) MiB unpacked (python3 image + ${app_mb} MB under /app)"
printf '%-34s %8s %10s %8s\n' step seconds ratio rss_MiB
printf '%-34s %8s %10s %8s\n' "arca seal (encrypt /app)" "$a" "1.00" "$(( $(median arca-seal 3) / 1024 ))"
printf '%-34s %8s %10s %8s\n' "skopeo copy --encryption-key jwe" "$s" "$(ratio "$a" "$s")" "$(( $(median skopeo-encrypt 3) / 1024 ))"
printf '%-34s %8s %10s %8s\n' "arca re-seal, one file changed" "$r" "$(ratio "$r" "$a")" "$(( $(median arca-reseal 3) / 1024 ))"
printf '%-34s %8s %10s %8s\n' "  same, fresh destination" "$f" "$(ratio "$f" "$a")" "$(( $(median arca-reseal-fresh 3) / 1024 ))"
echo "arca/skopeo time ratio $(ratio "$a" "$s") (target <= 1.0); re-seal/full $(ratio "$r" "$a") (target <= 0.1);" \
  "arca throughput $(awk -v b="$unpacked" -v t="$a" 'BEGIN { printf "%.0f", b / 1048576 / t }') MiB/s of uncompressed content"
