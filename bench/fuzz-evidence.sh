#!/usr/bin/env bash
# A short fuzz run of every attestation evidence parser (SGX/TDX quotes, SNP reports and
# certificate tables, collateral JSON, certificate chains and CRLs) over the published samples
# in ../shared/testdata/attestation: stacked bit flips, random runs, huge length fields,
# truncations, duplicated and dropped ranges. Passes when nothing crashes and every rejection is
# an ArcaError. Prints the number of inputs per parser.
#
#   bench/fuzz-evidence.sh [SECONDS_PER_PARSER=15] [SEED]
#
# The run is CPU-bound on one core; on the shared build machine keep it short.
set -euo pipefail
cd "$(dirname "$0")/.."
export ARCA_FUZZ_SECONDS="${1:-15}"
export ARCA_FUZZ_SEED="${2:-$(date +%s)}"
nice -n 10 swift build --build-tests >&2
echo "fuzzing each parser for ${ARCA_FUZZ_SECONDS}s, seed ${ARCA_FUZZ_SEED}" >&2
swift test --skip-build --no-parallel --filter EvidenceFuzzTests 2>&1 | grep -E "^fuzz |passed|failed|error" 
