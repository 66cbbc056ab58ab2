#!/usr/bin/env bash
# test.sh: install what is missing, build, and run every test twice: in the
# optimised build (with valgrind on the unit tests) and in the
# AddressSanitizer + UBSan build. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
for cfg in release asan; do
    echo "== $cfg build"
    ./scripts/build.sh "$cfg"
    (cd "build/$cfg" && ctest --output-on-failure --timeout 900)
done
