#!/usr/bin/env bash
# cycles_test.sh LIB...: no file of a library calls into a file that calls
# back into it, directly or through others.
#
# Read from the objects, not the sources: nm gives each object's defined
# and undefined symbols, so file A -> file B when A uses a function B
# defines. tsort reports any loop in that graph. Calls through function
# pointers (scan callbacks, the state loader) are not edges: they are the
# interfaces a lower layer offers, by design.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: cycles_test.sh LIB..." >&2; exit 2; }
bad=0
for lib in "$@"; do
    defs=$(mktemp) uses=$(mktemp) edges=$(mktemp)
    # object symbol, for every global function an object defines / uses
    nm -A --defined-only -g "$lib" | awk -F'[: ]+' '$4 ~ /^[TW]$/ {print $2, $5}' | sort -k2 >"$defs"
    nm -A -u "$lib" | awk -F'[: ]+' '{print $2, $NF}' | sort -k2 >"$uses"
    # user -> definer, both in this library, self-edges dropped
    join -1 2 -2 2 "$uses" "$defs" | awk '$2 != $3 {print $2, $3}' | sort -u >"$edges"
    if ! loop=$(tsort "$edges" 2>&1 >/dev/null) || [ -n "$loop" ]; then
        echo "cycles: $(basename "$lib") has a loop among its files:"
        echo "$loop"
        bad=1
    else
        echo "cycles: $(basename "$lib"): $(wc -l <"$edges") calls between files, no loop"
    fi
    rm -f "$defs" "$uses" "$edges"
done
exit "$bad"
