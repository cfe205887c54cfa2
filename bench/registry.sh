#!/usr/bin/env bash
# Benchmark (issue 6: registries): push, then pull, of the mmdebstrap python3 image to a local
# docker-registry (Debian's distribution 2.8 on 127.0.0.1, plain HTTP), `arca copy` against
# `skopeo copy` doing the same in the same run. Prints medians, ratios and peak RSS.
# Usage: bench/registry.sh [RUNS]   (default 5; uses the release build, or $ARCA_BIN)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-5}
arca=${ARCA_BIN:-$PWD/.build/release/arca}
[ -x "$arca" ] || swift build -c release --product arca >&2
image=$(scripts/python-image.sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/arca-bench.XXXXXX")
trap 'scripts/registry.sh stop "$work/registry" || true; rm -rf "$work"' EXIT
export BENCH_RESULTS=$work/results
port=$(scripts/registry.sh start "$work/registry")
registry=127.0.0.1:$port

for i in $(seq "$runs"); do
  rm -rf "$work/a-oci" "$work/s-oci"
  # A new repository per run and tool, so every push uploads every blob; alternate who goes first.
  if [ $((i % 2)) = 1 ]; then order="arca skopeo"; else order="skopeo arca"; fi
  for tool in $order; do
    if [ "$tool" = arca ]; then
      measure arca-push "$arca" copy --quiet "$image" "docker://$registry/bench/arca-$i:python"
      measure arca-pull "$arca" copy --quiet "docker://$registry/bench/arca-$i:python" "oci:$work/a-oci:python"
    else
      measure skopeo-push skopeo copy -q --dest-tls-verify=false "$image" "docker://$registry/bench/skopeo-$i:python"
      measure skopeo-pull skopeo copy -q --src-tls-verify=false "docker://$registry/bench/skopeo-$i:python" "oci:$work/s-oci:python"
    fi
  done
done

# Both tools pushed the same manifest (layers passed through unchanged).
a=$(skopeo inspect --raw --tls-verify=false "docker://$registry/bench/arca-1:python" | sha256sum | cut -c1-16)
s=$(skopeo inspect --raw --tls-verify=false "docker://$registry/bench/skopeo-1:python" | sha256sum | cut -c1-16)
echo "registry benchmark: $(machine_line); $runs runs; image $(du -sh "$(echo "${image#oci:}" | cut -d: -f1)" | cut -f1) (python3 on Debian 12); manifests arca $a, skopeo $s"
printf '%-8s %8s %9s %6s %13s %15s\n' step arca_s skopeo_s ratio arca_rss_MiB skopeo_rss_MiB
for step in push pull; do
  a=$(median "arca-$step" 2); s=$(median "skopeo-$step" 2)
  printf '%-8s %8s %9s %6s %13s %15s\n' "$step" "$a" "$s" "$(ratio "$a" "$s")" \
    "$(( $(median "arca-$step" 3) / 1024 ))" "$(( $(median "skopeo-$step" 3) / 1024 ))"
done
ta=$(awk -v a="$(median arca-push 2)" -v b="$(median arca-pull 2)" 'BEGIN { print a + b }')
ts=$(awk -v a="$(median skopeo-push 2)" -v b="$(median skopeo-pull 2)" 'BEGIN { print a + b }')
rss=$(awk -v a="$(median arca-push 3)" -v b="$(median arca-pull 3)" 'BEGIN { print int((a > b ? a : b) / 1024) }')
echo "push + pull: arca ${ta}s, skopeo ${ts}s, ratio $(ratio "$ta" "$ts") (target <= 1.00); arca peak RSS ${rss} MiB (target <= 128)"
