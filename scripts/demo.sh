#!/usr/bin/env bash
set -euo pipefail
echo "demo: coming with the image I/O work" >&2
