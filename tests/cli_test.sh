#!/usr/bin/env bash
# cli_test.sh - drives the real cairn binary: set-up, status, records, and
# every error a user can meet, checking messages and exit statuses.
# Usage: cli_test.sh PATH-TO-cairn
set -u
CAIRN=${1:?usage: cli_test.sh PATH-TO-cairn}
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
export CAIRN_PASSPHRASE='a long test passphrase'
unset CAIRN_KEY_FILE
fails=0 passes=0

# expect STATUS DESCRIPTION -- COMMAND...: run with stdin from /dev/null and a
# time limit (nothing may wait for input), check the exit status.
expect() {
    local want=$1 what=$2
    shift 3
    timeout 60 "$@" </dev/null >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $what: exit $got, expected $want" >&2
        sed 's/^/  | /' "$T/out" "$T/err" >&2
    fi
}

# contains FILE TEXT DESCRIPTION
contains() {
    if grep -qF -- "$2" "$1"; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $3: '$2' not in output" >&2
        sed 's/^/  | /' "$1" >&2
    fi
}

N="$T/clinic"
expect 0 "init" -- "$CAIRN" init "$N" --kdf interactive
contains "$T/out" "initialised node in $N (passphrase)" "init message"
expect 0 "status" -- "$CAIRN" status "$N"
contains "$T/out" "records     0" "status counts"
contains "$T/out" "format      1" "status format"
expect 0 "status --json" -- "$CAIRN" status "$N" --json
contains "$T/out" '"format_version": 1' "json format"
contains "$T/out" '"records": 0' "json records"
node=$(sed -n 's/.*"node_id": "\([0-9a-f]*\)".*/\1/p' "$T/out")
[ ${#node} -eq 32 ] && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: node id '$node'" >&2; }

# Records round trip, and the patient's name never reaches the disk.
printf '{"patient":"Ezinne Marchetti-Oyelaran","phq9":17}' >"$T/plan.json"
expect 0 "put" -- "$CAIRN" put "$N" plan/7f3a --file "$T/plan.json"
expect 0 "get" -- "$CAIRN" get "$N" plan/7f3a
cmp -s "$T/out" "$T/plan.json" && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: get returned other bytes" >&2; }
if grep -rqa "Marchetti" "$N"; then
    fails=$((fails + 1)); echo "FAIL: patient name found in plaintext under $N" >&2
else
    passes=$((passes + 1))
fi
expect 0 "status after put" -- "$CAIRN" status "$N"
contains "$T/out" "records     1" "status counts a record"

# Errors: each has its own exit status (10 + N for CAIRN error -N).
expect 23 "get missing key" -- "$CAIRN" get "$N" plan/none
contains "$T/err" "CAIRN_ENOTFOUND" "missing key message"
expect 17 "wrong passphrase" -- env CAIRN_PASSPHRASE=wrong-passphrase "$CAIRN" status "$N"
contains "$T/err" "wrong passphrase or key file" "wrong passphrase message"
expect 25 "no passphrase and no terminal" -- env -u CAIRN_PASSPHRASE "$CAIRN" status "$N"
contains "$T/err" "no passphrase" "no passphrase message"
expect 14 "missing directory" -- "$CAIRN" status "$T/nowhere"
contains "$T/err" "directory does not exist" "missing directory message"
mkdir "$T/empty"
expect 15 "not a store" -- "$CAIRN" status "$T/empty"
contains "$T/err" "not a cairn store" "not a store message"
expect 16 "init over a store" -- "$CAIRN" init "$N" --kdf interactive
expect 25 "init with a short passphrase" -- env CAIRN_PASSPHRASE=short "$CAIRN" init "$T/short"
[ ! -e "$T/short" ] && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: short passphrase left a directory" >&2; }

# Passphrase from a file.
printf 'passphrase from a file\n' >"$T/pass"
expect 0 "init with --passphrase-file" -- env -u CAIRN_PASSPHRASE "$CAIRN" init "$T/pf" --kdf interactive --passphrase-file "$T/pass"
expect 0 "open with --passphrase-file" -- env -u CAIRN_PASSPHRASE "$CAIRN" status "$T/pf" --passphrase-file "$T/pass"
expect 25 "missing passphrase file" -- "$CAIRN" status "$T/pf" --passphrase-file "$T/nope"

# Key files.
expect 0 "keygen" -- "$CAIRN" keygen "$T/node.key"
[ "$(stat -c %a "$T/node.key")" = 600 ] && [ "$(stat -c %s "$T/node.key")" = 32 ] && passes=$((passes + 1)) || { fails=$((fails + 1)); echo "FAIL: key file mode/size" >&2; }
expect 16 "keygen refuses to overwrite" -- "$CAIRN" keygen "$T/node.key"
expect 0 "init with key file" -- "$CAIRN" init "$T/kf" --key-file "$T/node.key"
expect 0 "status with key file" -- "$CAIRN" status "$T/kf" --key-file "$T/node.key"
contains "$T/out" "unlock      key file" "key file status"
expect 0 "CAIRN_KEY_FILE" -- env CAIRN_KEY_FILE="$T/node.key" "$CAIRN" status "$T/kf"
expect 25 "key-file store without the key" -- "$CAIRN" status "$T/kf"
contains "$T/err" "protected by a key file" "key file needed message"
"$CAIRN" keygen "$T/other.key" >/dev/null
expect 17 "wrong key file" -- "$CAIRN" status "$T/kf" --key-file "$T/other.key"
expect 28 "key file for a passphrase store" -- "$CAIRN" status "$N" --key-file "$T/node.key"

# Format version newer than this build: refused with a clear message.
cp -r "$N" "$T/newer"
printf '\x02' | dd of="$T/newer/keyring" bs=1 seek=8 conv=notrunc status=none
expect 22 "newer format" -- "$CAIRN" status "$T/newer"
contains "$T/err" "newer than this version" "version message"

# Usage errors.
expect 2 "no command" -- "$CAIRN"
expect 2 "unknown command" -- "$CAIRN" frobnicate
expect 2 "missing argument" -- "$CAIRN" status
expect 2 "bad --kdf" -- "$CAIRN" init "$T/x" --kdf fast
expect 0 "help" -- "$CAIRN" help
expect 0 "version" -- "$CAIRN" --version

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
