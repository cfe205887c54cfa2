#!/usr/bin/env bash
# Starts and stops Debian's docker-registry (distribution 2.8) on 127.0.0.1 for tests and benchmarks.
#
#   scripts/registry.sh start DIR [--tls] [--htpasswd USER:PASS] [--token REALM SERVICE ISSUER CERT_PEM]
#       writes DIR/config.yml, keeps blobs in DIR/storage, logs to DIR/registry.log and prints the
#       port it listens on. --tls makes a CA and a server certificate for 127.0.0.1/localhost with
#       openssl: DIR/certs/ca.crt is the CA (use DIR/client-certs as --cert-dir: it holds ca.crt only).
#   scripts/registry.sh stop DIR
#       stops the registry started in DIR (and its watchdog).
#
# A watchdog stops the registry when the process that started it exits, so a crashed test run
# leaves nothing behind.
set -euo pipefail

command=${1:?usage: registry.sh start|stop DIR [options]}
dir=${2:?usage: registry.sh start|stop DIR [options]}
shift 2

stop() {
  local pid
  for f in watchdog.pid registry.pid; do
    if [ -f "$dir/$f" ]; then
      pid=$(cat "$dir/$f")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$f"
    fi
  done
}

# Runs "$@" in the background with only stdin/stdout/stderr open: a descriptor inherited from the
# caller (Foundation's Process watches one to see its child exit) must not be held by the registry.
detach() {
  local log=$1; shift
  (
    for fd in /proc/self/fd/*; do
      n=${fd##*/}
      if [ "$n" -gt 2 ] 2>/dev/null; then eval "exec $n>&-" 2>/dev/null || true; fi
    done
    exec "$@"
  ) >> "$log" 2>&1 < /dev/null &
}

if [ "$command" = stop ]; then stop; exit 0; fi
[ "$command" = start ] || { echo "registry.sh: unknown command $command" >&2; exit 2; }

tls=0 htpasswd="" token=()
while [ $# -gt 0 ]; do
  case $1 in
    --tls) tls=1; shift ;;
    --htpasswd) htpasswd=$2; shift 2 ;;
    --token) token=("$2" "$3" "$4" "$5"); shift 5 ;;
    *) echo "registry.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

mkdir -p "$dir/storage"
# A random high port; a port already taken makes the registry exit, and the loop below tries another.
free_port() { shuf -i 20000-60999 -n 1; }

{
  echo "version: 0.1"
  echo "log: {level: info, accesslog: {disabled: false}}"
  echo "storage: {filesystem: {rootdirectory: $dir/storage}, delete: {enabled: true}}"
} > "$dir/config.base.yml"

if [ "$tls" = 1 ]; then
  mkdir -p "$dir/certs" "$dir/client-certs"
  (
    cd "$dir/certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
      -subj "/CN=arca test CA" -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -subj "/CN=127.0.0.1" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt 2>/dev/null
  )
  cp "$dir/certs/ca.crt" "$dir/client-certs/ca.crt"
fi
if [ -n "$htpasswd" ]; then
  htpasswd -Bbn "${htpasswd%%:*}" "${htpasswd#*:}" > "$dir/htpasswd"
  echo "auth: {htpasswd: {realm: arca-test, path: $dir/htpasswd}}" >> "$dir/config.base.yml"
fi
if [ ${#token[@]} -gt 0 ]; then
  echo "auth: {token: {realm: \"${token[0]}\", service: \"${token[1]}\", issuer: \"${token[2]}\", rootcertbundle: ${token[3]}}}" >> "$dir/config.base.yml"
fi

scheme=http
curl_opts=(-s -o /dev/null -w '%{http_code}' --max-time 2)
if [ "$tls" = 1 ]; then scheme=https; curl_opts+=(--cacert "$dir/certs/ca.crt"); fi

for _ in 1 2 3 4 5 6 7 8; do
  port=$(free_port)
  cp "$dir/config.base.yml" "$dir/config.yml"
  if [ "$tls" = 1 ]; then
    echo "http: {addr: 127.0.0.1:$port, tls: {certificate: $dir/certs/server.crt, key: $dir/certs/server.key}}" >> "$dir/config.yml"
  else
    echo "http: {addr: 127.0.0.1:$port}" >> "$dir/config.yml"
  fi
  detach "$dir/registry.log" docker-registry serve "$dir/config.yml"
  echo $! > "$dir/registry.pid"
  for _ in $(seq 100); do
    code=$(curl "${curl_opts[@]}" "$scheme://127.0.0.1:$port/v2/" || true)
    case $code in 200|401) break ;; esac
    kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ "${code:-}" = 200 ] || [ "${code:-}" = 401 ]; then
    owner=$PPID
    registry=$(cat "$dir/registry.pid")
    detach /dev/null bash -c "while kill -0 $owner 2>/dev/null && kill -0 $registry 2>/dev/null; do sleep 1; done; kill $registry 2>/dev/null"
    echo $! > "$dir/watchdog.pid"
    echo "$port"
    exit 0
  fi
  stop
done
echo "registry.sh: docker-registry did not start; see $dir/registry.log" >&2
tail -5 "$dir/registry.log" >&2 || true
exit 1
