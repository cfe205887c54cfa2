#!/usr/bin/env bash
# Benchmark (issue: image I/O): `arca copy` of the mmdebstrap python3 image, OCI -> docker-archive
# and back, against `skopeo copy` doing the same, in the same run. Prints medians, ratios, peak RSS.
# Usage: bench/image-copy.sh [RUNS]   (default 5; uses the release build)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-5}
arca=${ARCA_BIN:-$PWD/.build/release/arca}
[ -x "$arca" ] || swift build -c release --product arca >&2
image=$(scripts/python-image.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export BENCH_RESULTS=$work/results

for i in $(seq "$runs"); do
  rm -rf "$work/a.tar" "$work/s.tar" "$work/a-oci" "$work/s-oci"
  # Alternate who goes first so neither always gets the warmer page cache.
  if [ $((i % 2)) = 1 ]; then order="arca skopeo"; else order="skopeo arca"; fi
  for tool in $order; do
    if [ "$tool" = arca ]; then
      measure arca-to-archive "$arca" copy --quiet "$image" "docker-archive:$work/a.tar:bench/python:1"
      measure arca-to-oci "$arca" copy --quiet "docker-archive:$work/a.tar" "oci:$work/a-oci:python"
    else
      measure skopeo-to-archive skopeo copy -q "$image" "docker-archive:$work/s.tar:bench/python:1"
      measure skopeo-to-oci skopeo copy -q "docker-archive:$work/s.tar" "oci:$work/s-oci:python"
    fi
  done
done

echo "image copy benchmark: $(machine_line); $runs runs; image $(du -sh "$(echo "${image#oci:}" | cut -d: -f1)" | cut -f1) (python3 on Debian 12)"
printf '%-24s %8s %9s %6s %13s %15s\n' step arca_s skopeo_s ratio arca_rss_MiB skopeo_rss_MiB
for step in to-archive to-oci; do
  label="oci -> docker-archive"; [ "$step" = to-oci ] && label="docker-archive -> oci"
  a=$(median "arca-$step" 2); s=$(median "skopeo-$step" 2)
  printf '%-24s %8s %9s %6s %13s %15s\n' "$label" "$a" "$s" "$(ratio "$a" "$s")" \
    "$(( $(median "arca-$step" 3) / 1024 ))" "$(( $(median "skopeo-$step" 3) / 1024 ))"
done
ta=$(awk -v a="$(median arca-to-archive 2)" -v b="$(median arca-to-oci 2)" 'BEGIN { print a + b }')
ts=$(awk -v a="$(median skopeo-to-archive 2)" -v b="$(median skopeo-to-oci 2)" 'BEGIN { print a + b }')
rss=$(awk -v a="$(median arca-to-archive 3)" -v b="$(median arca-to-oci 3)" 'BEGIN { print int((a > b ? a : b) / 1024) }')
echo "round trip: arca ${ta}s, skopeo ${ts}s, ratio $(ratio "$ta" "$ts") (target <= 1.00); arca peak RSS ${rss} MiB (target <= 128)"
