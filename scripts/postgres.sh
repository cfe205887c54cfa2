#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster on 127.0.0.1 for the keeper tests (Debian's postgresql-15).
#   scripts/postgres.sh start DIR [WATCH_PID]  -> prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/postgres.sh stop DIR
# The cluster lives in DIR (created, owned by the `postgres` user; trust auth on loopback only).
# With WATCH_PID, a watchdog stops the cluster and removes DIR once that process exits, so a test
# run that crashes leaves nothing behind.
set -euo pipefail
bin=/usr/lib/postgresql/15/bin
cmd=${1:-}; dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR [WATCH_PID]" >&2; exit 2; }
[ -x "$bin/initdb" ] || { echo "postgres.sh: $bin/initdb missing; run scripts/install-deps.sh" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  for _ in $(seq 1 30); do
    port=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue   # in use
    if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
        -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=200" \
        >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      if [ -n "${3:-}" ]; then
        watch_pid=$3
        nohup bash -c "while kill -0 $watch_pid 2>/dev/null; do sleep 1; done; '$0' stop '$dir'" >/dev/null 2>&1 &
      fi
      echo "postgres://postgres@127.0.0.1:$port/postgres"
      exit 0
    fi
  done
  echo "postgres.sh: could not start postgresql (see $dir/server.log)" >&2
  exit 1
  ;;
stop)
  if [ -d "$dir/data" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
  ;;
*)
  echo "usage: $0 start|stop DIR [WATCH_PID]" >&2; exit 2
  ;;
esac
