#!/usr/bin/env bash
# Benchmark (issue: arca-init): sealed images under runc against their peers, in one run.
#  (1) python3 -c 'import json, email, http.server, asyncio, sqlite3, xml.etree.ElementTree, decimal'
#      in the sealed image vs the native image, both under runc, warm and cold page cache
#      (cold: echo 3 > /proc/sys/vm/drop_caches before each run). Timed inside the container
#      around the python process; the whole `runc run` is reported beside it.
#      Targets: <= 1.15x warm, <= 1.3x cold.
#  (2) cold sequential read (dd bs=1M) of a 1 GiB encrypted file through arca vs the same file in
#      gocryptfs. Target: >= 1.5x gocryptfs's throughput.
#  (3) time from `runc run` to the first answered request (python3 -m http.server) with and
#      without an extra 4 GiB authenticated file in the image. Target: difference <= 100 ms.
#  (4) arca-init's resident memory (VmRSS of the container's PID 1) while the service runs.
#      Target: <= 32 MiB.
# Usage: bench/runtime.sh [RUNS]   (default 5; medians). Needs root, runc, mmdebstrap, umoci,
#        gocryptfs (ARCA_BENCH_DEPS=1 scripts/install-deps.sh). Uses the release build.
#        The Debian python3 image is built once and cached in .build/bench-cache.
#        BIG_MIB / HUGE_MIB (default 1024 / 4096) shrink the files for a quick check of the script;
#        KEEP_WORK=1 keeps the work directory (images, bundles, keeper data) for a closer look.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
runs=${1:-5}
big_mib=${BIG_MIB:-1024}
huge_mib=${HUGE_MIB:-4096}
arca=${ARCA_BIN:-$PWD/.build/release/arca}
[ -x "$arca" ] || swift build -c release --product arca >&2
# the runtime under test: $ARCA_INIT (which `arca seal` ships), else arca-init beside $arca
export ARCA_INIT=${ARCA_INIT:-$(dirname "$arca")/arca-init}
[ -x "$ARCA_INIT" ] || swift build -c release --product arca-init >&2
for tool in runc umoci mmdebstrap gocryptfs jq curl; do
  command -v "$tool" >/dev/null || { echo "bench/runtime.sh needs $tool (ARCA_BENCH_DEPS=1 scripts/install-deps.sh)" >&2; exit 1; }
done
cache=${ARCA_BENCH_CACHE:-$PWD/.build/bench-cache}
work=$(mktemp -d "${TMPDIR:-/var/tmp}/arca-bench-runtime.XXXXXX")
export BENCH_RESULTS=$work/results
: >"$BENCH_RESULTS"
keeper_pid=""
containers=()
cleanup() {
  for c in "${containers[@]}"; do runc delete --force "$c" >/dev/null 2>&1 || true; done
  mountpoint -q "$work/gc.plain" 2>/dev/null && fusermount3 -u "$work/gc.plain" 2>/dev/null || true
  if [ -n "$keeper_pid" ]; then kill "$keeper_pid" 2>/dev/null || true; wait "$keeper_pid" 2>/dev/null || true; fi
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
log() { echo "runtime bench: $*" >&2; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# --- the native image: Debian 12 with the full python3 (cached) -------------------------------
python_image() {
  local layout=$cache/python-full-oci
  if [ ! -f "$layout/.complete" ]; then
    log "building the Debian python3 image (mmdebstrap, once)"
    mkdir -p "$cache"
    local tmp
    tmp=$(mktemp -d "$cache/build.XXXXXX")
    SOURCE_DATE_EPOCH=1700000000 mmdebstrap --quiet --variant=apt --include=python3 bookworm "$tmp/rootfs.tar" >&2
    umoci init --layout "$tmp/oci" >&2
    umoci new --image "$tmp/oci:python" >&2
    umoci unpack --image "$tmp/oci:python" "$tmp/bundle" >&2
    tar -C "$tmp/bundle/rootfs" --numeric-owner -xpf "$tmp/rootfs.tar"
    umoci repack --image "$tmp/oci:python" "$tmp/bundle" >&2
    umoci config --image "$tmp/oci:python" --config.env PATH=/usr/local/bin:/usr/bin:/bin >&2
    umoci gc --layout "$tmp/oci" >&2
    rm -rf "$layout"
    mv "$tmp/oci" "$layout"
    touch "$layout/.complete"
    rm -rf "$tmp"
  fi
  echo "$layout"
}

# add_layer LAYOUT FROM_TAG TO_TAG DIR : appends DIR's tree as a layer (umoci compresses it).
add_layer() {
  tar -C "$4" --numeric-owner --owner=0 --group=0 -cf "$work/layer.tar" .
  umoci raw add-layer --image "$1:$2" --tag "$3" "$work/layer.tar" >&2
  rm -f "$work/layer.tar"
}

log "preparing images in $work"
cp -a "$(python_image)" "$work/img"
mkdir -p "$work/app/app" "$work/big/data" "$work/huge/data"
printf 'print("app")\n' >"$work/app/app/main.py"
head -c "${big_mib}M" /dev/urandom >"$work/big/data/big.bin"
truncate -s "${huge_mib}M" "$work/huge/data/huge.bin"
add_layer "$work/img" python app "$work/app"
add_layer "$work/img" app big "$work/big"
add_layer "$work/img" big huge "$work/huge"
for tag in big huge; do umoci config --image "$work/img:$tag" --config.entrypoint /bin/sh --config.cmd=-c --config.cmd=true >&2; done

# --- the keeper and the sealed images ---------------------------------------------------------
port=$(( 20000 + RANDOM % 10000 ))
"$arca" keeper serve --listen "127.0.0.1:$port" --data "$work/keeper" >"$work/keeper.log" 2>&1 &
keeper_pid=$!
for _ in $(seq 100); do grep -q "keeper pin" "$work/keeper.log" && break; sleep 0.1; done
pin=$(awk '/keeper pin/ { print $NF; exit }' "$work/keeper.log")
[ -n "$pin" ] || { cat "$work/keeper.log" >&2; exit 1; }
export ARCA_HOME=$work/home
for tag in big huge; do
  log "sealing $tag"
  seal_start=$(date +%s.%N)
  "$arca" seal --from "oci:$work/img:$tag" --to "oci:$work/sealed:$tag" --encrypt /app --encrypt /data --ephemeral /tmp \
    --session "bench/$tag" --allow-sim --keeper "https://127.0.0.1:$port" --keeper-pin "$pin" \
    --session-out "$work/$tag.yaml" --quiet >/dev/null
  log "sealed $tag in $(awk -v s="$seal_start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"
  # host arguments carry each benchmark's command
  sed -i 's/allowHostArgs: false/allowHostArgs: true/' "$work/$tag.yaml"
  "$arca" session create "$work/$tag.yaml" --keeper "https://127.0.0.1:$port" --keeper-pin "$pin" >/dev/null
done

# bundle KIND NAME ARGS... : a runc bundle running `/bin/sh -c ARGS`: sealed (arca run) or native (umoci).
bundle() {
  local kind=$1 name=$2; shift 2
  local dir=$work/bundles/$name
  mkdir -p "$work/bundles"
  if [ "$kind" = native ]; then
    umoci unpack --image "$work/img:big" "$dir" >/dev/null 2>&1
    jq --arg script "$1" '.process.terminal = false | .process.args = ["/bin/sh", "-c", $script] | .root.readonly = true
      | .linux.namespaces |= map(select(.type != "network"))' "$dir/config.json" >"$dir/config.json.new"
    mv "$dir/config.json.new" "$dir/config.json"
  else
    "$arca" run --prepare-only --bundle "$dir" "oci:$work/sealed:$kind" -- -c "$1" >/dev/null
    if [ ! -f "$work/registered" ]; then
      "$arca" keeper platform add "$ARCA_HOME/platform.pub.pem" --data "$work/keeper" >/dev/null
      touch "$work/registered"
    fi
  fi
  echo "$dir"
}

run_id=0
# run_container BUNDLE : runs it to the end; sets $us (the BENCH_US line it printed) and $wall_us.
run_container() {
  run_id=$((run_id + 1))
  local name=arca-bench-$$-$run_id
  containers+=("$name")
  local start end
  start=$(date +%s%N)
  runc run --bundle "$1" "$name" </dev/null >"$work/out" 2>&1 || { cat "$work/out" >&2; return 1; }
  end=$(date +%s%N)
  wall_us=$(( (end - start) / 1000 ))
  us=$(awk '/^BENCH_US/ { print $2 }' "$work/out")
  [ -n "$us" ] || { log "no timing from $1: $(cat "$work/out")"; return 1; }
}
seconds() { awk -v u="$1" 'BEGIN { print u / 1e6 }'; }

# --- (1) python imports ------------------------------------------------------------------------
imports='import json, email, http.server, asyncio, sqlite3, xml.etree.ElementTree, decimal'
timed="s=\$(date +%s%N); python3 -c '$imports'; e=\$(date +%s%N); echo BENCH_US \$(( (e - s) / 1000 ))"
native_py=$(bundle native native-py "$timed")
sealed_py=$(bundle big sealed-py "$timed")
log "(1) python imports, $runs runs each, warm and cold"
run_container "$native_py"; run_container "$sealed_py"   # warm-up
for i in $(seq "$runs"); do
  for cache_state in warm cold; do
    for kind in native sealed; do
      b=$native_py; [ $kind = sealed ] && b=$sealed_py
      [ $cache_state = cold ] && drop_caches
      run_container "$b"
      echo "py-$cache_state-$kind $(seconds "$us") 0" >>"$BENCH_RESULTS"
      echo "run-$cache_state-$kind $(seconds "$wall_us") 0" >>"$BENCH_RESULTS"
    done
  done
done

# --- (2) 1 GiB cold read: arca vs gocryptfs ------------------------------------------------------
log "(2) 1 GiB cold sequential read, $runs runs each"
read_cmd="s=\$(date +%s%N); dd if=/data/big.bin of=/dev/null bs=1M status=none; e=\$(date +%s%N); echo BENCH_US \$(( (e - s) / 1000 ))"
sealed_read=$(bundle big sealed-read "$read_cmd")
mkdir -p "$work/gc.cipher" "$work/gc.plain"
echo bench-password >"$work/gc.pass"
gocryptfs -q -init -scryptn 10 -passfile "$work/gc.pass" "$work/gc.cipher"
gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$work/gc.plain"
cp "$work/big/data/big.bin" "$work/gc.plain/big.bin"
fusermount3 -u "$work/gc.plain"
for i in $(seq "$runs"); do
  drop_caches
  run_container "$sealed_read"
  echo "read-arca $(seconds "$us") 0" >>"$BENCH_RESULTS"
  gocryptfs -q -passfile "$work/gc.pass" "$work/gc.cipher" "$work/gc.plain"
  drop_caches
  s=$(date +%s%N); dd if="$work/gc.plain/big.bin" of=/dev/null bs=1M status=none; e=$(date +%s%N)
  fusermount3 -u "$work/gc.plain"
  echo "read-gocryptfs $(seconds $(( (e - s) / 1000 ))) 0" >>"$BENCH_RESULTS"
done

# --- (3) first answer with and without 4 GiB more, and (4) arca-init's RSS --------------------------
log "(3) start to first answer, with and without a 4 GiB authenticated file, $runs runs each"
http_port=$(( 30000 + RANDOM % 10000 ))
serve="exec python3 -m http.server $http_port --bind 127.0.0.1 --directory /app"
for tag in big huge; do bundle "$tag" "serve-$tag" "$serve" >/dev/null; done
for i in $(seq "$runs"); do
  for tag in big huge; do
    drop_caches
    run_id=$((run_id + 1)); name=arca-bench-$$-$run_id; containers+=("$name")
    start=$(date +%s%N)
    runc run --bundle "$work/bundles/serve-$tag" "$name" </dev/null >"$work/serve.log" 2>&1 &
    runc_pid=$!
    until curl -s -o /dev/null -m 1 "http://127.0.0.1:$http_port/main.py"; do
      kill -0 "$runc_pid" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
      sleep 0.005
    done
    end=$(date +%s%N)
    echo "first-answer-$tag $(seconds $(( (end - start) / 1000 ))) 0" >>"$BENCH_RESULTS"
    init=$(runc state "$name" | jq .pid)
    rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$init/status")
    service_rss=0
    for child in $(cat /proc/"$init"/task/*/children); do
      service_rss=$(( service_rss + $(awk '/^VmRSS/ { print $2 }' "/proc/$child/status") ))
    done
    echo "rss-init-$tag 0 $rss" >>"$BENCH_RESULTS"
    echo "rss-service-$tag 0 $service_rss" >>"$BENCH_RESULTS"
    runc kill "$name" TERM
    wait "$runc_pid" || true
  done
done

# --- report ------------------------------------------------------------------------------------
m() { median "$1" "$2"; }
echo "## runtime ($runs runs, medians; $(machine_line); shared machine)"
echo "(1) python imports          native      sealed      ratio   (target)"
for s in warm cold; do
  printf '    %-5s python process   %7.3f s   %7.3f s   %5sx  (%s)\n' "$s" "$(m py-$s-native 2)" "$(m py-$s-sealed 2)" \
    "$(ratio "$(m py-$s-sealed 2)" "$(m py-$s-native 2)")" "$([ $s = warm ] && echo '<= 1.15x' || echo '<= 1.3x')"
  printf '    %-5s whole runc run   %7.3f s   %7.3f s   %5sx\n' "$s" "$(m run-$s-native 2)" "$(m run-$s-sealed 2)" \
    "$(ratio "$(m run-$s-sealed 2)" "$(m run-$s-native 2)")"
done
arca_mib=$(awk -v s="$big_mib" -v t="$(m read-arca 2)" 'BEGIN { printf "%.0f", s / t }')
gc_mib=$(awk -v s="$big_mib" -v t="$(m read-gocryptfs 2)" 'BEGIN { printf "%.0f", s / t }')
echo "(2) $big_mib MiB cold read         arca $arca_mib MiB/s, gocryptfs $gc_mib MiB/s: $(ratio "$arca_mib" "$gc_mib")x (target >= 1.5x)"
big=$(m first-answer-big 2); huge=$(m first-answer-huge 2)
echo "(3) first answer            without $big s, with $huge_mib MiB more $huge s: +$(awk -v a="$big" -v b="$huge" 'BEGIN { printf "%.0f", (b - a) * 1000 }') ms (target <= 100 ms)"
echo "(4) arca-init VmRSS         $(awk -v k="$(m rss-init-big 3)" 'BEGIN { printf "%.1f", k / 1024 }') MiB (service: $(awk -v k="$(m rss-service-big 3)" 'BEGIN { printf "%.1f", k / 1024 }') MiB); with the $huge_mib MiB file $(awk -v k="$(m rss-init-huge 3)" 'BEGIN { printf "%.1f", k / 1024 }') MiB (target <= 32 MiB)"
