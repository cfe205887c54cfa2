#!/usr/bin/env bash
# Installs every system package that building, testing, the demo and the benchmarks need.
# Idempotent: a package that is already there is not installed again. Run as root on Debian 12.
set -euo pipefail

packages=(
  pkg-config zlib1g-dev libzstd-dev libfuse3-dev fuse3   # build: C libraries behind system targets
  libisal-dev                                             # CIsal: ISA-L igzip, the fast gzip inflate (ArcaArchive)
  libssl-dev libssl3                                      # COpenSSL: arca-init's keeper link (libssl3 ships in /.arca/lib)
  skopeo umoci runc mmdebstrap busybox-static             # real peers for image tests and the runtime
  docker-registry postgresql                              # real services for registry and keeper tests
  zstd gzip tar jq curl openssl time sqlite3                   # test helpers
  apache2-utils                                                # htpasswd for the registry Basic-auth tests
  python3                                                      # python's sqlite3 workloads on mounted volumes
)
[ "${ARCA_BENCH_DEPS:-0}" = 1 ] && packages+=(gocryptfs fio hyperfine time)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The distribution registry and PostgreSQL are started by the tests themselves, on 127.0.0.1.
systemctl disable --now docker-registry >/dev/null 2>&1 || true
