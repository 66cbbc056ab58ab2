#!/usr/bin/env bash
# cli_test.sh - drives the real cairn binary: set-up, status, records, the
# organisation and its roster, care plans, conflicts and bundles, and every
# error a user can meet, checking messages and exit statuses.
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

# matches FILE REGEX DESCRIPTION (extended regular expression)
matches() {
    if grep -qE -- "$2" "$1"; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $3: /$2/ not in output" >&2
        sed 's/^/  | /' "$1" >&2
    fi
}

# lacks FILE TEXT DESCRIPTION
lacks() {
    if grep -qF -- "$2" "$1"; then
        fails=$((fails + 1))
        echo "FAIL: $3: '$2' in output" >&2
        sed 's/^/  | /' "$1" >&2
    else
        passes=$((passes + 1))
    fi
}

# check DESCRIPTION -- TEST...: a shell test that must hold.
check() {
    local what=$1
    shift 2
    if "$@"; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: $what" >&2
    fi
}

# is_hex N: the whole of $T/out is one line of N lowercase hex digits.
is_hex() {
    [ "$(wc -l <"$T/out")" -eq 1 ] && grep -qE "^[0-9a-f]{$1}\$" "$T/out"
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

# Sizes past their limits, refused before anything is written.
head -c $((16 * 1024 * 1024 + 1)) /dev/zero >"$T/big"
expect 24 "put a value over 16 MiB" -- "$CAIRN" put "$N" big --file "$T/big"
rm -f "$T/big"
expect 24 "put a key over 448 bytes" -- "$CAIRN" put "$N" "$(printf 'k%.0s' $(seq 449))" --file "$T/plan.json"
expect 11 "put an empty key" -- "$CAIRN" put "$N" "" --file "$T/plan.json"
expect 2 "put --file that cannot be opened" -- "$CAIRN" put "$N" k --file "$T/nofile"
expect 0 "nothing stored by the refused puts" -- "$CAIRN" status "$N"
contains "$T/out" "records     1" "still one record"
expect 2 "--max-size-mib 0" -- "$CAIRN" init "$T/x" --max-size-mib 0
expect 2 "--max-size-mib over 2^24" -- "$CAIRN" init "$T/x" --max-size-mib 16777217
expect 2 "--max-size-mib negative" -- "$CAIRN" init "$T/x" --max-size-mib -1
expect 2 "--max-size-mib past 64 bits" -- "$CAIRN" init "$T/x" --max-size-mib 99999999999999999999999
check "no store made with a bad --max-size-mib" -- test ! -e "$T/x"

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

# ---- The organisation, the roster, care plans, conflicts, bundles ---------
# Key-file nodes, so that every command opens its store at once.
"$CAIRN" keygen "$T/nodes.key" >/dev/null
export CAIRN_KEY_FILE="$T/nodes.key"
A="$T/clinic2" B="$T/hospital" P="$T/patient" C="$T/cm2" D="$T/late" S="$T/stranger"
for n in "$A" "$B" "$P" "$C" "$D" "$S"; do "$CAIRN" init "$n" >/dev/null; done

# Identities, and a node before it belongs to an organisation.
expect 0 "id" -- "$CAIRN" id "$A"
check "id prints a public key" -- is_hex 64
kA=$(cat "$T/out") kB=$("$CAIRN" id "$B") kP=$("$CAIRN" id "$P") kC=$("$CAIRN" id "$C") kD=$("$CAIRN" id "$D")
kS=$("$CAIRN" id "$S") # never enrolled
expect 2 "id without DIR" -- "$CAIRN" id
expect 0 "status without an organisation" -- "$CAIRN" status "$A"
contains "$T/out" "org         none" "status: no organisation"
contains "$T/out" "plans       0" "status: no plans"
contains "$T/out" "pending     0" "status: nothing pending"
expect 0 "status --json without an organisation" -- "$CAIRN" status "$A" --json
contains "$T/out" '"organisation": null' "json: no organisation"
expect 35 "org show without an organisation" -- "$CAIRN" org show "$A"
contains "$T/err" "belongs to no organisation" "no organisation message"
expect 31 "edit without an organisation" -- "$CAIRN" plan new "$A"

# org create and join.
expect 0 "org create" -- "$CAIRN" org create "$A" --name clinic
check "org create prints the organisation key" -- is_hex 64
org=$(cat "$T/out")
contains "$T/err" "on its roster as admin" "org create message"
expect 16 "org create twice" -- "$CAIRN" org create "$A"
contains "$T/err" "already belongs to an organisation" "org create twice message"
expect 0 "status with an organisation" -- "$CAIRN" status "$A"
contains "$T/out" "org         $org" "status shows the organisation"
expect 0 "status --json with an organisation" -- "$CAIRN" status "$A" --json
contains "$T/out" "\"organisation\": \"$org\"" "json organisation"
contains "$T/out" '"plans": 0' "json plans"
contains "$T/out" '"pending": 0' "json pending"
expect 2 "org join with bad hex" -- "$CAIRN" org join "$B" "xyz$org"
contains "$T/err" "ORGKEY must be 64 hex digits" "bad hex message"
expect 2 "org join with a non-hex digit" -- "$CAIRN" org join "$B" "${org:0:63}g"
contains "$T/err" "ORGKEY must be 64 hex digits" "non-hex digit message"
for n in "$B" "$P" "$C" "$D"; do expect 0 "org join $n" -- "$CAIRN" org join "$n" "$org"; done
expect 0 "org join again (same organisation)" -- "$CAIRN" org join "$B" "$org"
expect 16 "org join another organisation" -- "$CAIRN" org join "$B" "$kA"

# The roster.
expect 0 "roster add (self)" -- "$CAIRN" roster add "$A" "$kA" --name clinic --roles care-manager,prescriber,admin
contains "$T/out" "is care-manager,prescriber,admin" "roster add message"
expect 0 "roster add prescriber" -- "$CAIRN" roster add "$A" "$kB" --name hospital --roles prescriber
expect 0 "roster add patient" -- "$CAIRN" roster add "$A" "$kP" --name patient --roles patient
expect 0 "roster add care manager" -- "$CAIRN" roster add "$A" "$kC" --name cm2 --roles care-manager
expect 0 "roster add late node" -- "$CAIRN" roster add "$A" "$kD" --name late --roles care-manager
ghost=$(printf 'ab%.0s' $(seq 32))
expect 0 "roster add with validity" -- "$CAIRN" roster add "$A" "$ghost" --name ghost --roles family --from 1000 --until 2000
expect 2 "roster add bad key" -- "$CAIRN" roster add "$A" "${kB:0:10}" --name x --roles prescriber
contains "$T/err" "KEY must be 64 hex digits" "roster bad key message"
expect 2 "roster add unknown role" -- "$CAIRN" roster add "$A" "$kB" --name x --roles prescriber,wizard
expect 2 "roster add without --name" -- "$CAIRN" roster add "$A" "$kB" --roles prescriber
expect 2 "roster add without --roles" -- "$CAIRN" roster add "$A" "$kB" --name x
expect 2 "roster add --until before --from" -- "$CAIRN" roster add "$A" "$kB" --name x --roles family --from 5 --until 4
expect 2 "roster add bad --from" -- "$CAIRN" roster add "$A" "$kB" --name x --roles family --from yesterday
expect 0 "roster revoke --at" -- "$CAIRN" roster revoke "$A" "$ghost" --at 1500
expect 2 "roster revoke --at 0" -- "$CAIRN" roster revoke "$A" "$ghost" --at 0
contains "$T/err" "--at takes a time after 0" "--at 0 message"
expect 2 "roster revoke --at past 2^47" -- "$CAIRN" roster revoke "$A" "$ghost" --at 140737488355329
expect 2 "roster revoke --at past 64 bits" -- "$CAIRN" roster revoke "$A" "$ghost" --at 99999999999999999999999
expect 2 "roster add --until 0" -- "$CAIRN" roster add "$A" "$kB" --name x --roles family --until 0
expect 2 "roster add a negative --from" -- "$CAIRN" roster add "$A" "$kB" --name x --roles family --from -5
expect 11 "roster add a name that is not UTF-8" -- "$CAIRN" roster add "$A" "$kB" --name $'hospital \xff' --roles prescriber
contains "$T/err" "UTF-8 text of at most 200 bytes" "roster name message"
expect 11 "roster add a name over 200 bytes" -- "$CAIRN" roster add "$A" "$kB" --name "$(printf 'n%.0s' $(seq 201))" --roles prescriber
expect 23 "roster revoke unknown key" -- "$CAIRN" roster revoke "$A" "$(printf 'cd%.0s' $(seq 32))"
contains "$T/err" "no such roster entry" "revoke unknown message"
expect 0 "org show" -- "$CAIRN" org show "$A"
contains "$T/out" "organisation $org" "org show key"
matches "$T/out" "$kA  clinic +care-manager,prescriber,admin\$" "org show roles by name"
matches "$T/out" "$kB  hospital +prescriber\$" "org show prescriber"
matches "$T/out" "  ghost +family  from 1000  until 2000  revoked at 1500\$" "org show validity"
expect 0 "org show --json" -- "$CAIRN" org show "$A" --json
contains "$T/out" '"name": "hospital"' "json roster name"
contains "$T/out" '"revoked_at": 1500' "json revoked_at"
contains "$T/out" '"care-manager",' "json roles as names"

# A plan: new, list, add, set, clear, remove.
expect 0 "plan new" -- "$CAIRN" plan new "$A" --title "Recovery plan"
check "plan new prints a plan id" -- is_hex 32
plan=$(cat "$T/out")
check "plan new prints its change id on stderr" -- grep -qE '^change [0-9a-f]{64}$' "$T/err"
expect 0 "plan list" -- "$CAIRN" plan list "$A"
contains "$T/out" "$plan       1 change" "plan list counts"
contains "$T/out" "(the organisation's roster)" "plan list marks the roster"
expect 0 "plan list --json" -- "$CAIRN" plan list "$A" --json
contains "$T/out" "\"plan\": \"$plan\"" "json plan list"
contains "$T/out" '"roster": true' "json roster flag"
expect 0 "plan set patient" -- "$CAIRN" plan set "$A" "$plan" patient display_name="Ezinne Marchetti-Oyelaran" birth_date=1987-03-14
check "plan set prints the change" -- grep -qE '^change [0-9a-f]{64}$' "$T/out"
expect 0 "plan add need" -- "$CAIRN" plan add "$A" "$plan" need domain=housing description="tenancy ends soon" status=open
check "plan add prints an entity id" -- is_hex 32
need=$(cat "$T/out")
expect 0 "plan add medication" -- "$CAIRN" plan add "$A" "$plan" medication drug=sertraline dose="50 mg" status=active
med=$(cat "$T/out")
expect 0 "plan add check-in" -- "$CAIRN" plan add "$A" "$plan" checkin kind=phone phq9=17 time=1700000000000
checkin=$(cat "$T/out")
expect 0 "plan show" -- "$CAIRN" plan show "$A" "$plan"
contains "$T/out" "plan $plan: 5 changes, digest " "plan show header"
contains "$T/out" "  display_name   Ezinne Marchetti-Oyelaran" "plan show patient"
contains "$T/out" "need $need" "plan show need id"
contains "$T/out" "  dose           50 mg" "plan show dose"
contains "$T/out" "  phq9           17" "plan show integer field"
contains "$T/out" "  status         draft" "plan new sets status draft"
expect 0 "plan show --json" -- "$CAIRN" plan show "$A" "$plan" --json
contains "$T/out" '"changes": 5' "json changes"
contains "$T/out" "\"id\": \"$med\"" "json entity id"
contains "$T/out" '"phq9": {' "json field"
expect 0 "plan set clears a field" -- "$CAIRN" plan set "$A" "$plan" "need:$need" description=
expect 0 "plan show after clearing" -- "$CAIRN" plan show "$A" "$plan"
lacks "$T/out" "tenancy ends soon" "a cleared field is not shown"
expect 0 "plan remove" -- "$CAIRN" plan remove "$A" "$plan" "need:$need"
expect 0 "plan show after remove" -- "$CAIRN" plan show "$A" "$plan"
lacks "$T/out" "need $need" "a removed entity is not shown"
expect 23 "plan remove twice" -- "$CAIRN" plan remove "$A" "$plan" "need:$need"
contains "$T/err" "no such need in this plan" "remove twice message"
expect 23 "plan set a removed entity" -- "$CAIRN" plan set "$A" "$plan" "need:$need" status=closed

# Stored text is printed with its control characters escaped.
expect 0 "plan add text with control characters" -- "$CAIRN" plan add "$A" "$plan" need description=$'line\n\e[2J\xc2\x9bend'
expect 0 "plan show escapes them" -- "$CAIRN" plan show "$A" "$plan"
contains "$T/out" '  description    line\n\x1b[2J\u009bend' "escaped text"
lacks "$T/out" $'\e' "no raw escape byte reaches the terminal"
lacks "$T/out" $'\xc2\x9b' "no raw C1 control reaches the terminal"
if grep -rqa "Marchetti" "$A"; then
    fails=$((fails + 1)); echo "FAIL: patient name found in plaintext under $A" >&2
else
    passes=$((passes + 1))
fi

# Plan errors: names are usage errors (2), values the library refuses are EINVAL (11).
expect 2 "plan show bad hex" -- "$CAIRN" plan show "$A" "${plan}0"
contains "$T/err" "PLAN must be 32 hex digits" "plan bad hex message"
expect 2 "plan show with a non-hex digit" -- "$CAIRN" plan show "$A" "${plan:0:31}x"
expect 0 "plan show reads upper-case hex" -- "$CAIRN" plan show "$A" "${plan^^}"
contains "$T/out" "plan $plan: " "upper-case id prints in lower case"
expect 23 "plan show unknown plan" -- "$CAIRN" plan show "$A" 00000000000000000000000000000000
expect 2 "unknown entity type" -- "$CAIRN" plan add "$A" "$plan" diagnosis code=F32
contains "$T/err" "unknown entity type 'diagnosis'" "unknown entity message"
expect 2 "unknown field" -- "$CAIRN" plan add "$A" "$plan" need mood=low
contains "$T/err" "need has no field 'mood'" "unknown field message"
expect 2 "an unknown field that reads like text" -- "$CAIRN" plan add "$A" "$plan" need "Marchetti moved=out"
contains "$T/err" "need has no field" "unknown text field message"
lacks "$T/err" "Marchetti" "text in a field name is not echoed"
expect 2 "an unknown entity type that reads like text" -- "$CAIRN" plan add "$A" "$plan" "Ezinne Marchetti"
lacks "$T/err" "Marchetti" "text in an entity type is not echoed"
expect 2 "FIELD=VALUE without =" -- "$CAIRN" plan add "$A" "$plan" need housing
expect 11 "invalid enum value" -- "$CAIRN" plan add "$A" "$plan" need status=sometimes
contains "$T/err" "invalid value for need.status" "invalid value message"
lacks "$T/err" "sometimes" "the value is not echoed"
expect 11 "integer out of range" -- "$CAIRN" plan add "$A" "$plan" checkin phq9=28
expect 11 "integer field given text" -- "$CAIRN" plan add "$A" "$plan" checkin phq9=high
contains "$T/err" "checkin.phq9 takes an integer" "integer message"
expect 11 "integer past 64 bits" -- "$CAIRN" plan add "$A" "$plan" checkin phq9=99999999999999999999
contains "$T/err" "checkin.phq9 takes an integer" "huge integer message"
expect 11 "text that is not UTF-8" -- "$CAIRN" plan set "$A" "$plan" patient display_name=$'Ezinne \xff'
contains "$T/err" "not valid UTF-8" "UTF-8 message"
expect 11 "a check-in note that is not UTF-8" -- "$CAIRN" plan add "$A" "$plan" checkin kind=phone note=$'\xc3'
contains "$T/err" "not valid UTF-8" "check-in UTF-8 message"
lacks "$T/err" "append-only" "bad text in a new check-in is not called a write to an old one"
expect 11 "plan new with a title over 200 bytes" -- "$CAIRN" plan new "$A" --title "$(printf 't%.0s' $(seq 201))"
contains "$T/err" "invalid value for plan.title" "title message"
expect 11 "bad date" -- "$CAIRN" plan set "$A" "$plan" patient birth_date=14/03/1987
expect 11 "check-ins are append-only" -- "$CAIRN" plan set "$A" "$plan" "checkin:$checkin" note=later
contains "$T/err" "append-only" "append-only message"
expect 11 "check-ins are never removed" -- "$CAIRN" plan remove "$A" "$plan" "checkin:$checkin"
expect 2 "set entity without an id" -- "$CAIRN" plan set "$A" "$plan" medication dose=1
expect 2 "singleton with an id" -- "$CAIRN" plan set "$A" "$plan" "patient:$med" phone=1
expect 2 "add a singleton" -- "$CAIRN" plan add "$A" "$plan" patient
expect 2 "remove a singleton" -- "$CAIRN" plan remove "$A" "$plan" "patient:$med"
contains "$T/err" "a patient cannot be removed" "remove a singleton message"
expect 2 "entity id bad hex" -- "$CAIRN" plan set "$A" "$plan" "medication:${med:0:8}" dose=1
contains "$T/err" "EID must be 32 hex digits" "eid bad hex message"
expect 2 "entity id with a non-hex digit" -- "$CAIRN" plan set "$A" "$plan" "medication:${med:0:31}z" dose=1
expect 23 "unknown entity id" -- "$CAIRN" plan set "$A" "$plan" medication:00000000000000000000000000000001 dose=1
expect 2 "plan set without a field" -- "$CAIRN" plan set "$A" "$plan" patient
expect 31 "prescriber may not write the plan entity" -- "$CAIRN" plan new "$B"
contains "$T/err" "not allowed" "roles message"
expect 31 "not an administrator: roster add" -- "$CAIRN" roster add "$B" "$kB" --name me --roles admin
contains "$T/err" "only an administrator" "roster roles message"

# Bundles: export, import, twice, for another node, damaged. A node that is
# not a care manager receives a plan only when its care team lists it.
expect 0 "bundle to a node not on the team: roster only" -- "$CAIRN" bundle export "$A" --to "$kB" "$T/x.bundle"
contains "$T/out" "wrote 8 changes" "only the roster goes to a node off the team"
expect 31 "bundle of a named plan the node may not hold" -- "$CAIRN" bundle export "$A" --to "$kB" "$T/x.bundle" "$plan"
rm -f "$T/x.bundle"
expect 31 "bundle for a node not on the roster" -- "$CAIRN" bundle export "$A" --to "$kS" "$T/x.bundle"
rm -f "$T/x.bundle"
expect 0 "hospital joins the care team" -- "$CAIRN" plan add "$A" "$plan" member person_key="$kB" name=hospital role=prescriber
expect 0 "the patient joins the care team" -- "$CAIRN" plan add "$A" "$plan" member person_key="$kP" name=patient role=patient
expect 0 "conflicts: none yet" -- "$CAIRN" conflicts "$A" "$plan"
contains "$T/out" "no conflicts" "no conflicts message"
expect 0 "bundle export" -- "$CAIRN" bundle export "$A" --to "$kB" "$T/a-b.bundle"
contains "$T/out" "sealed for node ${kB:0:16}" "bundle export message"
n_export=$(sed -n 's/^wrote \([0-9]*\) changes.*/\1/p' "$T/out")
expect 0 "bundle import" -- "$CAIRN" bundle import "$B" "$T/a-b.bundle"
contains "$T/out" "applied $n_export, duplicate 0, pending 0, rejected 0" "bundle import counts"
"$CAIRN" status "$B" --json >"$T/before-damaged"
expect 0 "bundle import twice" -- "$CAIRN" bundle import "$B" "$T/a-b.bundle" --json
contains "$T/out" "\"duplicate\": $n_export" "second import: all duplicates"
contains "$T/out" '"applied": 0' "second import applies nothing"
expect 0 "org show after the roster arrived" -- "$CAIRN" org show "$B"
matches "$T/out" "$kP  patient +patient\$" "roster travelled"
expect 17 "bundle for another node" -- "$CAIRN" bundle import "$P" "$T/a-b.bundle"
contains "$T/err" "sealed for another node" "other node message"
cp "$T/a-b.bundle" "$T/damaged.bundle"
printf '\xff' | dd of="$T/damaged.bundle" bs=1 seek=200 conv=notrunc status=none
expect 17 "damaged bundle" -- "$CAIRN" bundle import "$B" "$T/damaged.bundle"
head -c 60 "$T/a-b.bundle" >"$T/short.bundle"
expect 30 "truncated bundle" -- "$CAIRN" bundle import "$B" "$T/short.bundle"
contains "$T/err" "not a cairn bundle, or damaged" "malformed message"
head -c 300 /dev/urandom >"$T/noise.bundle"
expect 30 "not a bundle" -- "$CAIRN" bundle import "$B" "$T/noise.bundle"
expect 23 "missing bundle" -- "$CAIRN" bundle import "$B" "$T/none.bundle"
cp "$T/a-b.bundle" "$T/newer.bundle"
printf '\x02' | dd of="$T/newer.bundle" bs=1 seek=8 conv=notrunc status=none
expect 22 "bundle of a newer format" -- "$CAIRN" bundle import "$B" "$T/newer.bundle"
contains "$T/err" "bundle format is newer than this version" "newer bundle message"
: >"$T/empty.bundle"
expect 30 "empty bundle" -- "$CAIRN" bundle import "$B" "$T/empty.bundle"
truncate -s 1025M "$T/huge.bundle"
expect 24 "bundle over 1 GiB" -- "$CAIRN" bundle import "$B" "$T/huge.bundle"
contains "$T/err" "larger than a bundle may be" "huge bundle message"
rm -f "$T/huge.bundle"
"$CAIRN" status "$B" --json >"$T/after-damaged"
check "damaged bundles changed nothing" -- cmp -s "$T/before-damaged" "$T/after-damaged"
expect 2 "bundle export without --to" -- "$CAIRN" bundle export "$A" "$T/x.bundle"
expect 2 "bundle export bad --to" -- "$CAIRN" bundle export "$A" --to "${kB}00" "$T/x.bundle"
expect 11 "bundle export to a key that is no public key" -- "$CAIRN" bundle export "$A" --to "$(printf 'ff%.0s' $(seq 32))" "$T/x.bundle"
contains "$T/err" "not a node's public key" "bad recipient message"
expect 2 "bundle export bad plan" -- "$CAIRN" bundle export "$A" --to "$kB" "$T/x.bundle" nothex
check "no bundle written on usage errors" -- test ! -e "$T/x.bundle"
expect 0 "bundle export of one plan" -- "$CAIRN" bundle export "$A" --to "$kD" "$T/a-d.bundle" "$plan"
expect 0 "plan without its roster: rejected" -- "$CAIRN" bundle import "$D" "$T/a-d.bundle"
contains "$T/out" "applied 0, duplicate 0, pending 0, rejected" "unknown authors rejected"

# A patient may add a check-in but not change a medication.
"$CAIRN" bundle export "$A" --to "$kP" "$T/a-p.bundle" >/dev/null
expect 0 "patient imports" -- "$CAIRN" bundle import "$P" "$T/a-p.bundle"
expect 31 "patient writes a medication dose" -- "$CAIRN" plan set "$P" "$plan" "medication:$med" dose="500 mg"
contains "$T/err" "CAIRN_EDENIED" "patient refused"
expect 0 "patient adds a check-in" -- "$CAIRN" plan add "$P" "$plan" checkin kind=phone phq9=12

# Concurrent dose edits: a conflict on both nodes, with the same digest.
expect 0 "hospital changes the dose" -- "$CAIRN" plan set "$B" "$plan" "medication:$med" dose="75 mg"
expect 0 "clinic changes the dose" -- "$CAIRN" plan set "$A" "$plan" "medication:$med" dose="100 mg"
"$CAIRN" bundle export "$A" --to "$kB" "$T/a-b.bundle" >/dev/null
"$CAIRN" bundle export "$B" --to "$kA" "$T/b-a.bundle" >/dev/null
expect 0 "exchange: hospital imports" -- "$CAIRN" bundle import "$B" "$T/a-b.bundle"
expect 0 "exchange: clinic imports" -- "$CAIRN" bundle import "$A" "$T/b-a.bundle"
contains "$T/out" "applied 1," "clinic receives the hospital's dose"
"$CAIRN" plan show "$A" "$plan" >"$T/showA"
"$CAIRN" plan show "$B" "$plan" >"$T/showB"
check "both nodes show the same plan and digest" -- cmp -s "$T/showA" "$T/showB"
contains "$T/showA" 'dose           CONFLICT: ' "plan show marks the conflict"
contains "$T/showA" '1 field in conflict' "plan show counts conflicts"
expect 0 "conflicts" -- "$CAIRN" conflicts "$B" "$plan"
contains "$T/out" "medication $med dose: 2 values" "conflicts names the field"
contains "$T/out" "\"75 mg\"" "conflicts: hospital's value"
contains "$T/out" "\"100 mg\"" "conflicts: clinic's value"
contains "$T/out" "by ${kA:0:8} (clinic)  at " "conflicts: author and time"
contains "$T/out" "by ${kB:0:8} (hospital)  at " "conflicts: other author"
expect 0 "conflicts --json" -- "$CAIRN" conflicts "$A" "$plan" --json
contains "$T/out" '"field": "dose"' "json conflict field"
contains "$T/out" '"author_name": "hospital"' "json conflict author"
contains "$T/out" '"conflicts": 1' "json conflict count"

# The clinic resolves it; after one more exchange the conflict is gone on both.
expect 0 "resolve the conflict" -- "$CAIRN" plan set "$A" "$plan" "medication:$med" dose="75 mg"
"$CAIRN" bundle export "$A" --to "$kB" "$T/a-b.bundle" >/dev/null
expect 0 "hospital imports the resolution" -- "$CAIRN" bundle import "$B" "$T/a-b.bundle"
expect 0 "conflicts after resolution" -- "$CAIRN" conflicts "$B" "$plan"
contains "$T/out" "no conflicts" "resolved everywhere"
"$CAIRN" plan show "$A" "$plan" | head -1 >"$T/dA"
"$CAIRN" plan show "$B" "$plan" | head -1 >"$T/dB"
check "same digest after resolution" -- cmp -s "$T/dA" "$T/dB"

# Concurrent last-writer-wins edits: one winner, the same on both, the other counted.
"$CAIRN" bundle export "$A" --to "$kC" "$T/a-c.bundle" >/dev/null
expect 0 "second care manager imports" -- "$CAIRN" bundle import "$C" "$T/a-c.bundle"
expect 0 "clinic retitles" -- "$CAIRN" plan set "$A" "$plan" plan title="Title from the clinic"
expect 0 "second care manager retitles" -- "$CAIRN" plan set "$C" "$plan" plan title="Title from cm2"
"$CAIRN" bundle export "$A" --to "$kC" "$T/a-c.bundle" >/dev/null
"$CAIRN" bundle export "$C" --to "$kA" "$T/c-a.bundle" >/dev/null
"$CAIRN" bundle import "$C" "$T/a-c.bundle" >/dev/null
"$CAIRN" bundle import "$A" "$T/c-a.bundle" >/dev/null
"$CAIRN" plan show "$A" "$plan" >"$T/showA"
"$CAIRN" plan show "$C" "$plan" >"$T/showC"
check "last-writer-wins: same plan on both" -- cmp -s "$T/showA" "$T/showC"
contains "$T/showA" "won over 1 concurrent value by last-writer-wins" "superseded value counted"
expect 0 "conflicts ignores last-writer-wins fields" -- "$CAIRN" conflicts "$A" "$plan"
contains "$T/out" "no conflicts" "lww is not a conflict"

expect 0 "status counts plans" -- "$CAIRN" status "$A"
contains "$T/out" "plans       1 (and the roster)" "status plans"
expect 0 "plan list on a node" -- "$CAIRN" plan list "$B"
contains "$T/out" "$plan" "hospital lists the plan"
unset CAIRN_KEY_FILE

# Sync: the network protocol between two replicas on this machine.
export CAIRN_KEY_FILE="$T/nodes.key"
S2="$T/joined-only"
"$CAIRN" init "$S2" >/dev/null && "$CAIRN" org join "$S2" "$org" >/dev/null
expect 0 "sync with a care manager" -- "$CAIRN" sync "$A" "$C"
matches "$T/out" "changes applied" "sync reports what moved"
contains "$T/out" "; done" "sync ends done"
expect 0 "plan show after sync" -- "$CAIRN" plan show "$C" "$plan"
expect 0 "sync again: nothing to do" -- "$CAIRN" sync "$C" "$A" --json
contains "$T/out" '"result": "done"' "sync json result"
contains "$T/out" '"flights": 5' "in sync: handshake and one round trip"
expect 35 "sync with a node of no organisation" -- "$CAIRN" sync "$A" "$S"
expect 5 "sync with a node not on the roster" -- "$CAIRN" sync "$S2" "$A"
expect 2 "sync without a peer" -- "$CAIRN" sync "$A"
expect 17 "sync: the wrong key file for the peer" -- "$CAIRN" sync "$A" "$T/kf"
contains "$T/err" "$T/kf: wrong passphrase or key file" "sync names the peer it could not open"
expect 0 "sync released the first store" -- "$CAIRN" status "$A"
expect 17 "sync: the wrong passphrase for the peer" -- env CAIRN_PASSPHRASE=wrong-passphrase "$CAIRN" sync "$A" "$N"
expect 28 "sync: --key-file for a passphrase peer" -- "$CAIRN" sync "$A" "$N" --key-file "$T/nodes.key"
expect 11 "org create with a name over 200 bytes" -- "$CAIRN" org create "$T/kf" --key-file "$T/node.key" --name "$(printf 'n%.0s' $(seq 201))"
contains "$T/err" "at most 200 bytes" "org name message"
expect 35 "no organisation made" -- "$CAIRN" org show "$T/kf" --key-file "$T/node.key"

# Output that cannot be written is an error, not a silent success.
if [ -w /dev/full ]; then
    timeout 60 "$CAIRN" plan show "$A" "$plan" </dev/null >/dev/full 2>"$T/err"
    rc=$?
    if [ "$rc" -eq 13 ]; then
        passes=$((passes + 1))
    else
        fails=$((fails + 1))
        echo "FAIL: plan show to a full device: exit $rc, expected 13" >&2
    fi
fi

# Usage errors.
expect 2 "no command" -- "$CAIRN"
expect 2 "unknown command" -- "$CAIRN" frobnicate
expect 2 "missing argument" -- "$CAIRN" status
expect 2 "bad --kdf" -- "$CAIRN" init "$T/x" --kdf fast
expect 2 "group without a subcommand" -- "$CAIRN" plan
contains "$T/err" "plan takes one of: new list add set remove show" "group usage message"
expect 2 "unknown subcommand" -- "$CAIRN" bundle send
expect 2 "plan set: missing arguments" -- "$CAIRN" plan set x
expect 2 "unknown option" -- "$CAIRN" org show "$A" --frobnicate
matches "$T/err" "^cairn: .*frobnicate" "getopt's message starts with cairn"
expect 2 "option without its value" -- "$CAIRN" bundle export "$A" "$T/x.bundle" --to
expect 0 "help after a group" -- "$CAIRN" org --help
expect 0 "help" -- "$CAIRN" help
expect 0 "version" -- "$CAIRN" --version

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
