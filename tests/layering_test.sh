#!/usr/bin/env bash
# layering_test.sh SRCDIR: the include rules between the layers, checked on the sources.
#   - core/ and sync/ never include uv.h: only the service touches libuv;
#   - cli/ includes no private header of core/, sync/ or service/: it uses the
#     public API (include/cairn/*.h) like any other program.
# Prints every offending line and fails if there is one.
set -euo pipefail
src=${1:?usage: layering_test.sh SRCDIR}
cd "$src"
bad=0

uv=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^>"]*/)?uv\.h[>"]' \
    core/*.[ch] sync/*.[ch] || true)
if [ -n "$uv" ]; then
    echo "layering: core/ and sync/ must not include uv.h:"
    echo "$uv"
    bad=1
fi

# The private headers: every .h under core/, sync/ and service/, by file name.
private=$(cd core && ls *.h; cd ../sync && ls *.h; cd ../service && ls *.h)
for h in $private; do
    [ -e "cli/$h" ] && continue # cli's own header of that name
    hits=$(grep -nE "^[[:space:]]*#[[:space:]]*include[[:space:]]*[<\"]([^>\"]*/)?${h//./\\.}[>\"]" \
        cli/*.[ch] || true)
    if [ -n "$hits" ]; then
        echo "layering: cli/ includes the private header $h:"
        echo "$hits"
        bad=1
    fi
done

[ "$bad" -eq 0 ] && echo "layering: core/ and sync/ without uv.h; cli/ on the public API only"
exit "$bad"
