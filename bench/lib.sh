# Shared helpers for the benchmarks: timing with peak RSS, medians, ratios.
# Each measurement runs a command under /usr/bin/time and records wall seconds and max RSS (KiB).

# measure NAME CMD... : runs CMD once, appends "NAME seconds rss_kib" to $BENCH_RESULTS.
measure() {
  local name=$1; shift
  /usr/bin/time -o "$BENCH_RESULTS.one" -f '%e %M' "$@" >/dev/null 2>&1
  echo "$name $(tail -1 "$BENCH_RESULTS.one")" >> "$BENCH_RESULTS"
}

# median NAME FIELD : the median of field 2 (seconds) or 3 (rss) of NAME's runs.
median() {
  awk -v n="$1" -v f="$2" '$1 == n { print $f }' "$BENCH_RESULTS" | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "nan"; else printf "%.2f", a / b }'; }

machine_line() {
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk '/model name/ { sub(/.*: /, ""); print; exit }' /proc/cpuinfo), $(free -g | awk '/Mem:/ { print $2 }') GiB"
}
