#!/usr/bin/env bash
# Runs the test tiers on the build that `make build-tests` made; fails on the first failing tier.
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCA_BIN="$PWD/.build/debug/arca"
# Serially: the suites start real servers, FUSE mounts and containers, and on 2 cores running
# them all at once starves the slow ones (PostgreSQL start-up) into their timeouts.
swift test --skip-build --no-parallel "$@"
