#!/usr/bin/env bash
# Runs every benchmark (`make bench`). Each compares against a peer tool in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product arca >&2
swift build -c release --product arca-init >&2
swift build -c release --product arca-keeper-bench >&2
swift build -c release --product arca-volume-test-server >&2
export ARCA_BIN=$PWD/.build/release/arca
bench/image-copy.sh "${RUNS:-5}"
bench/seal.sh "${RUNS:-3}"
bench/registry.sh "${RUNS:-3}"
bench/keeper.sh
bench/volume.sh "${RUNS:-3}"
bench/runtime.sh "${RUNS:-3}"
