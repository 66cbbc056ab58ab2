#!/usr/bin/env bash
# build.sh CONFIG: configure and build one configuration into build/CONFIG.
#   release  optimised, warnings as errors
#   debug    -O0 -g, warnings as errors
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors
set -euo pipefail
cd "$(dirname "$0")/.."
cfg=${1:?usage: build.sh release|debug|asan}
case $cfg in
    release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
    debug) flags=(-DCMAKE_BUILD_TYPE=Debug) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=Debug -DCAIRN_SANITIZE=ON) ;;
    *) echo "build.sh: unknown configuration '$cfg'" >&2; exit 2 ;;
esac
cmake -S . -B "build/$cfg" "${flags[@]}" >/dev/null
cmake --build "build/$cfg" -j"$(nproc)" >/dev/null
