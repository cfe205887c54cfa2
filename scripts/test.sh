#!/usr/bin/env bash
# Runs the test tiers on the build that `make build-tests` made; fails on the first failing tier.
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCA_BIN="$PWD/.build/debug/arca"
swift test --skip-build "$@"
