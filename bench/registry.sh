#!/usr/bin/env bash
# Benchmark (issue 6: registries): push, then pull, of the mmdebstrap python3 image to a local
# docker-registry (Debian's distribution 2.8 on 127.0.0.1, plain HTTP), `arca copy` against
# `skopeo copy` doing the same in the same run. Prints medians, ratios and peak RSS.
# arca runs twice per round: "arca" as by default (every blob's digest and size checked, as
# skopeo does; a passed-through layer's diff_id is left to whoever unpacks it), and "arca-verify"
# with `--verify-diff-ids` and no cache of proven layers (ARCA_CACHE_DIR=""), where every layer is
# also decompressed to check its diff_id, on a second thread beside the transfer.
# Usage: bench/registry.sh [RUNS]   (default 5; uses the release build, or $ARCA_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-5}
arca=${ARCA_BIN:-$PWD/.build/release/arca}
[ -x "$arca" ] || swift build -c release --product arca >&2
image=$(scripts/python-image.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench.XXXXXX")
trap 'for r in "$work"/reg-*; do [ -d "$r" ] && scripts/registry.sh stop "$r"; done; rm -rf "$work"' EXIT
export BENCH_RESULTS=$work/results

for i in $(seq "$runs"); do
  rm -rf "$work/a-oci" "$work/s-oci"
  # Alternate who goes first so neither always gets the warmer page cache.
  if [ $((i % 2)) = 1 ]; then order="arca skopeo arca-verify"; else order="arca-verify skopeo arca"; fi
  for tool in $order; do
    # A fresh registry (new port, empty storage) for every run and tool: every push uploads every
    # blob, and skopeo's blob-info cache cannot turn the push into a cross-repository mount.
    port=$(scripts/registry.sh start "$work/reg-$tool-$i")
    registry=127.0.0.1:$port
    if [ "$tool" != skopeo ]; then
      verify=(); [ "$tool" = arca-verify ] && verify=(--verify-diff-ids)
      rm -rf "$work/a-oci"
      ARCA_CACHE_DIR="" measure "$tool-push" "$arca" copy --quiet "${verify[@]}" "$image" "docker://$registry/bench/python:1"
      ARCA_CACHE_DIR="" measure "$tool-pull" "$arca" copy --quiet "${verify[@]}" "docker://$registry/bench/python:1" "oci:$work/a-oci:python"
      arca_manifest=$(skopeo inspect --raw --tls-verify=false "docker://$registry/bench/python:1" | sha256sum | cut -c1-16)
    else
      measure skopeo-push skopeo copy -q --dest-tls-verify=false "$image" "docker://$registry/bench/python:1"
      measure skopeo-pull skopeo copy -q --src-tls-verify=false "docker://$registry/bench/python:1" "oci:$work/s-oci:python"
      skopeo_manifest=$(skopeo inspect --raw --tls-verify=false "docker://$registry/bench/python:1" | sha256sum | cut -c1-16)
    fi
    scripts/registry.sh stop "$work/reg-$tool-$i"
    rm -rf "$work/reg-$tool-$i"
  done
done

# Both tools pushed the same manifest (layers passed through unchanged).
a=$arca_manifest s=$skopeo_manifest
echo "registry benchmark: $(machine_line); $runs runs; image $(du -sh "$(echo "${image#oci:}" | cut -d: -f1)" | cut -f1) (python3 on Debian 12); manifests arca $a, skopeo $s"
printf '%-8s %8s %9s %6s %13s %15s\n' step arca_s skopeo_s ratio arca_rss_MiB skopeo_rss_MiB
for tool in arca arca-verify; do
  for step in push pull; do
    a=$(median "$tool-$step" 2); s=$(median "skopeo-$step" 2)
    printf '%-8s %8s %9s %6s %13s %15s\n' "$step${tool#arca}" "$a" "$s" "$(ratio "$a" "$s")" \
      "$(( $(median "$tool-$step" 3) / 1024 ))" "$(( $(median "skopeo-$step" 3) / 1024 ))"
  done
done
ta=$(awk -v a="$(median arca-push 2)" -v b="$(median arca-pull 2)" 'BEGIN { print a + b }')
ts=$(awk -v a="$(median skopeo-push 2)" -v b="$(median skopeo-pull 2)" 'BEGIN { print a + b }')
rss=$(awk -v a="$(median arca-push 3)" -v b="$(median arca-pull 3)" 'BEGIN { print int((a > b ? a : b) / 1024) }')
tc=$(awk -v a="$(median arca-verify-push 2)" -v b="$(median arca-verify-pull 2)" 'BEGIN { print a + b }')
echo "push + pull: arca ${ta}s, skopeo ${ts}s, ratio $(ratio "$ta" "$ts") (target <= 1.00); arca peak RSS ${rss} MiB (target <= 128)"
echo "push + pull with --verify-diff-ids (every diff_id checked, no cache): arca ${tc}s, ratio $(ratio "$tc" "$ts")"
