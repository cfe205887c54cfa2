#!/usr/bin/env bash
# Encrypted volumes: fio sequential write (one fsync at the end, and an fsync every 16 MiB),
# sequential read, random 4 KiB read and write (fsync every 256 writes), and a small-file
# create/stat/delete workload, on an arca volume (served by arca-volume-test-server over FUSE,
# with the file-backed anchor) vs gocryptfs vs the native directory, in the same run.
#   bench/volume.sh [RUNS]      (5 runs, SIZE=128m by default; ARCA_VOLUME_SERVER overrides the
#   server, which is built in release mode when missing; ARCA_VOLUME_CHUNK_SIZE the volume's chunk size;
#   BENCH_RAW=FILE keeps every run's numbers). The targets run in a rotating order.
# Prints a Markdown table of medians (MB/s, or operations/s for small files) and arca/gocryptfs.
# Needs fio and gocryptfs (ARCA_BENCH_DEPS=1 scripts/install-deps.sh) and root (FUSE mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SIZE=${SIZE:-128m}
SERVER=${ARCA_VOLUME_SERVER:-$PWD/.build/release/arca-volume-test-server}
for tool in fio gocryptfs jq python3; do
  command -v "$tool" >/dev/null || { echo "bench/volume.sh needs $tool (ARCA_BENCH_DEPS=1 scripts/install-deps.sh)" >&2; exit 1; }
done
if [ ! -x "$SERVER" ] && [ -z "${ARCA_VOLUME_SERVER:-}" ]; then
  swift build -c release --product arca-volume-test-server >&2
fi
[ -x "$SERVER" ] || { echo "no $SERVER: swift build -c release --product arca-volume-test-server" >&2; exit 1; }
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

work=$(mktemp -d /var/tmp/arca-bench-volume.XXXXXX)   # on disk: /tmp may be memory
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill -TERM "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  fusermount3 -u -z "$work/gplain" 2>/dev/null || umount -l "$work/gplain" 2>/dev/null || true
  umount -l "$work/arca" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/native" "$work/gcipher" "$work/gplain" "$work/arca"
echo benchmark-password > "$work/pw"
gocryptfs -init -q -passfile "$work/pw" -scryptn 10 "$work/gcipher" >/dev/null
gocryptfs -q -passfile "$work/pw" "$work/gcipher" "$work/gplain"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/key"; chmod 600 "$work/key"
"$SERVER" "$work/ahost" "$work/arca" "$work/key" "$work/anchor" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
for _ in $(seq 1 300); do grep -q ready "$work/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$work/server.out" || { cat "$work/server.err" >&2; exit 1; }

# fio_mbps DIR NAME ARGS... : one fio job in DIR; prints MB/s (read + write).
fio_mbps() {
  local dir=$1 name=$2; shift 2
  # --fallocate=none: FUSE volumes without fallocate would get glibc's emulation (a 1-byte write per block).
  fio --name="$name" --directory="$dir" --ioengine=psync --fallocate=none --size="$SIZE" --output-format=json "$@" 2>/dev/null |
    jq '[.jobs[0].read.bw_bytes, .jobs[0].write.bw_bytes] | add / 1e6 | . * 10 | round / 10'
}

# small_files DIR : create (1 KiB, no fsync), stat and delete 2000 files; prints operations/s.
small_files() {
  python3 - "$1" <<'PY'
import os, sys, time
d = os.path.join(sys.argv[1], "small"); os.makedirs(d, exist_ok=True)
n, data = 2000, b"x" * 1024
t = time.perf_counter()
for i in range(n):
    fd = os.open(f"{d}/f{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644); os.write(fd, data); os.close(fd)
for i in range(n): os.stat(f"{d}/f{i}")
for i in range(n): os.unlink(f"{d}/f{i}")
print(round(3 * n / (time.perf_counter() - t)))
PY
}

results=$work/results
: > "$results"
targets=(native gocryptfs arca)
for run in $(seq 1 "$RUNS"); do
  # A rotating order: no target always runs right after the same other one (whose deletions and
  # writeback are still settling on the host disk).
  for k in 0 1 2; do
    target=${targets[$(( (run + k) % 3 ))]}
    case $target in native) dir=$work/native ;; gocryptfs) dir=$work/gplain ;; arca) dir=$work/arca ;; esac
    echo "$target seqwrite $(fio_mbps "$dir" seq --rw=write --bs=1M --end_fsync=1)" >> "$results"
    echo "$target seqwrite-fsync $(fio_mbps "$dir" seqf --rw=write --bs=1M --fsync=16 --end_fsync=1)" >> "$results"
    echo "$target seqread $(fio_mbps "$dir" seq --rw=read --bs=1M)" >> "$results"
    echo "$target randread $(fio_mbps "$dir" seq --rw=randread --bs=4k --io_size=32m)" >> "$results"
    echo "$target randwrite $(fio_mbps "$dir" seq --rw=randwrite --bs=4k --io_size=32m --fsync=256 --end_fsync=1)" >> "$results"
    echo "$target smallfiles $(small_files "$dir")" >> "$results"
    rm -f "$dir"/seq* "$dir"/seqf*
  done
done

[ -n "${BENCH_RAW:-}" ] && cp "$results" "$BENCH_RAW"   # every run's numbers, for the spread
med() { awk -v t="$1" -v w="$2" '$1 == t && $2 == w { print $3 }' "$results" | sort -g |
  awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "# volumes: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo), $RUNS runs, SIZE=$SIZE, server $(basename "$(dirname "$SERVER")"), chunk size ${ARCA_VOLUME_CHUNK_SIZE:-default}, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
echo "| workload | arca volume | gocryptfs | native | arca / gocryptfs |"
echo "|---|---|---|---|---|"
for w in seqwrite seqwrite-fsync seqread randread randwrite smallfiles; do
  unit="MB/s"; [ "$w" = smallfiles ] && unit="ops/s"
  a=$(med arca "$w"); g=$(med gocryptfs "$w"); n=$(med native "$w")
  echo "| $w | $a $unit | $g $unit | $n $unit | $(awk -v a="$a" -v b="$g" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }') |"
done
