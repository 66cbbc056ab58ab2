#!/usr/bin/env bash
# service_test.sh - three real `cairn serve` processes on loopback ports chosen
# free at run time: the CLI edits their stores while they run, and an edit
# reaches the other services within a poll (no manual sync, a long interval);
# a manual `cairn sync DIR HOST:PORT`, an unreachable port, a node of another
# organisation and a key not on the roster, each with its exit status; JSON
# logs that parse and carry no patient content; SIGTERM gives exit 0 and
# every store reopens with everything acknowledged, and per-peer status.
# Usage: service_test.sh PATH-TO-cairn
set -u
CAIRN=${1:?usage: service_test.sh PATH-TO-cairn}
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-svc-XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
"$CAIRN" keygen "$T/key" >/dev/null
export CAIRN_KEY_FILE="$T/key"
unset CAIRN_PASSPHRASE
fails=0 passes=0

ok() { passes=$((passes + 1)); }
bad() {
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
}
# expect STATUS DESCRIPTION -- COMMAND...: stdin from /dev/null, a time limit.
expect() {
    local want=$1 what=$2
    shift 3
    timeout 60 "$@" </dev/null >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" -eq "$want" ]; then ok; else
        bad "$what: exit $got, expected $want"
        sed 's/^/  | /' "$T/out" "$T/err" >&2
    fi
}
contains() { if grep -qF -- "$2" "$1"; then ok; else bad "$3: '$2' not in $1"; sed 's/^/  | /' "$1" >&2; fi; }
lacks() { if grep -qF -- "$2" "$1"; then bad "$3: '$2' in $1"; else ok; fi; }
ms() { date +%s%3N; }

# A free loopback port: bind port 0 and read what the kernel chose.
free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
    else
        local p
        while :; do
            p=$((20000 + RANDOM % 40000))
            (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
        done
    fi
}

# The organisation: a creates it; b, c (services) and d (manual sync only) are
# care managers, so every node may hold every plan.
for n in a b c d; do "$CAIRN" init "$T/$n" >/dev/null; done
org=$("$CAIRN" org create "$T/a" --name clinic 2>/dev/null)
declare -A key port
for n in a b c d; do key[$n]=$("$CAIRN" id "$T/$n"); done
for n in a b c d; do
    "$CAIRN" roster add "$T/a" "${key[$n]}" --name "node $n" --roles care-manager,admin >/dev/null
done
for n in b c d; do "$CAIRN" org join "$T/$n" "$org" >/dev/null; done
for n in a b c; do port[$n]=$(free_port); done
# Every service dials the two others; the interval is long, so what arrives
# within seconds came from the commit poll, not from the timer.
for n in a b c; do
    for m in a b c; do
        [ "$n" = "$m" ] && continue
        expect 0 "peer add $n -> $m" -- "$CAIRN" peer add "$T/$n" "${key[$m]}" "127.0.0.1:${port[$m]}" --name "node $m"
    done
done
expect 0 "peer list" -- "$CAIRN" peer list "$T/a" --json
contains "$T/out" "127.0.0.1:${port[b]}" "peer list shows b's address"
expect 2 "peer add: a bad port" -- "$CAIRN" peer add "$T/a" "${key[b]}" "127.0.0.1:70000"
expect 2 "peer add: this node itself" -- "$CAIRN" peer add "$T/a" "${key[a]}" "127.0.0.1:1"
expect 23 "peer remove: not a peer" -- "$CAIRN" peer remove "$T/a" "${key[d]}"

start() { # start NODE [extra options]
    local n=$1
    shift
    "$CAIRN" serve "$T/$n" --listen "127.0.0.1:${port[$n]}" --interval 600 "$@" \
        </dev/null >"$T/$n.log" 2>&1 &
    eval "pid_$n=$!"
    pids+=($!)
}
start a
start b --log-format json --log-level debug
start c
for n in a b c; do # wait for each to listen
    for _ in $(seq 100); do grep -q listening "$T/$n.log" && break; sleep 0.05; done
    contains "$T/$n.log" "listening" "service $n listens"
done

# digest NODE PLAN: the first line of plan show (count and digest), or "none".
digest() { "$CAIRN" plan show "$T/$1" "$2" 2>/dev/null | head -1 || echo none; }
# converged PLAN SECONDS: all three services' stores show one digest in time.
converged() {
    local deadline=$(($(ms) + $2 * 1000))
    while [ "$(ms)" -lt "$deadline" ]; do
        local da db dc
        da=$(digest a "$1") db=$(digest b "$1") dc=$(digest c "$1")
        [ -n "$da" ] && [ "$da" = "$db" ] && [ "$da" = "$dc" ] && return 0
        sleep 0.1
    done
    return 1
}

# Edits through the CLI while the services hold the stores.
expect 0 "plan new on a beside its service" -- "$CAIRN" plan new "$T/a" --title "Shared care plan"
plan=$(cat "$T/out")
expect 0 "patient on a" -- "$CAIRN" plan set "$T/a" "$plan" patient display_name="Zelda Quux-Patient"
t0=$(ms)
if converged "$plan" 10; then ok; else bad "the new plan reached b and c"; fi
echo "service_test: a's new plan on b and c after $(($(ms) - t0)) ms"
expect 0 "b edits beside its service" -- "$CAIRN" plan add "$T/b" "$plan" need domain=housing status=open
expect 0 "c edits beside its service" -- "$CAIRN" plan set "$T/c" "$plan" plan status=active
t0=$(ms)
if converged "$plan" 10; then ok; else bad "edits on b and c converged"; fi
took=$(($(ms) - t0))
echo "service_test: edits on b and c everywhere after $took ms (interval 600 s)"
if [ "$took" -lt 3000 ]; then ok; else bad "propagation took $took ms (the poll is 200 ms)"; fi
expect 0 "conflicts beside the service" -- "$CAIRN" conflicts "$T/b" "$plan"
t0=$(ms)
expect 0 "status beside the service" -- "$CAIRN" status "$T/a" --json
took=$(($(ms) - t0))
echo "service_test: cairn status took $took ms (process start included)"
contains "$T/out" '"in_sync": true' "status: a peer ended in sync"
contains "$T/out" "\"key\": \"${key[b]}\"" "status lists peer b"

# A manual session over TCP, from a node with no service.
expect 0 "sync d with a's service" -- "$CAIRN" sync "$T/d" "127.0.0.1:${port[a]}"
contains "$T/out" "result    in-sync (done)" "manual sync: in sync"
contains "$T/out" "received  " "manual sync summary"
[ "$(digest d "$plan")" = "$(digest a "$plan")" ] && ok || bad "d holds a's plan after sync"
expect 0 "sync again, json" -- "$CAIRN" sync "$T/d" "127.0.0.1:${port[a]}" --json
contains "$T/out" '"result": "in-sync"' "json result"
contains "$T/out" '"changes_received": 0' "nothing more to receive"
expect 0 "d's status shows a" -- "$CAIRN" status "$T/d"
contains "$T/out" "ended in sync" "d's status: in sync with a"

# A peer that resets its connection must not kill a service with SIGPIPE: it is ignored.
sigign=$(awk '/^SigIgn:/ {print $2}' "/proc/$pid_a/status")
if (( (16#$sigign >> 12) & 1 )); then ok; else bad "SIGPIPE not ignored by cairn serve (SigIgn $sigign)"; fi

# Unreachable, refused: another organisation, and a key not on the roster.
dead=$(free_port)
expect 4 "sync with nothing listening" -- "$CAIRN" sync "$T/d" "127.0.0.1:$dead"
contains "$T/err" "no connection" "unreachable explained"
"$CAIRN" init "$T/stranger" >/dev/null && "$CAIRN" org create "$T/stranger" >/dev/null 2>&1
expect 5 "a stranger is refused" -- "$CAIRN" sync "$T/stranger" "127.0.0.1:${port[a]}"
contains "$T/out" "refused (auth)" "stranger: auth"
"$CAIRN" init "$T/unlisted" >/dev/null && "$CAIRN" org join "$T/unlisted" "$org" >/dev/null
expect 5 "a key not on the roster is refused" -- "$CAIRN" sync "$T/unlisted" "127.0.0.1:${port[b]}"
contains "$T/out" "unknown-peer" "unlisted: unknown-peer"
# A refused key leaves no status row behind (anyone who knows the org key could add rows).
ukey=$("$CAIRN" id "$T/unlisted")
skey=$("$CAIRN" id "$T/stranger")
expect 0 "b's status after the refusals" -- "$CAIRN" status "$T/b" --json
lacks "$T/out" "$ukey" "b keeps no record of the unlisted key"
expect 0 "a's status after the refusals" -- "$CAIRN" status "$T/a" --json
lacks "$T/out" "$skey" "a keeps no record of the stranger"
expect 2 "sync: a bad address" -- "$CAIRN" sync "$T/d" "127.0.0.1:0"
# The services keep serving after all that.
expect 0 "a edits again" -- "$CAIRN" plan set "$T/a" "$plan" plan title="After the strangers"
if converged "$plan" 10; then ok; else bad "converged after the refused sessions"; fi

# SIGTERM: exit 0, every store reopens with the same plan.
for n in a b c; do eval "kill -TERM \$pid_$n"; done
for n in a b c; do
    eval "wait \$pid_$n"
    rc=$?
    [ "$rc" -eq 0 ] && ok || bad "service $n exited $rc on SIGTERM"
    contains "$T/$n.log" "stopped" "service $n logged its stop"
done
pids=()
final=$(digest a "$plan")
[ "$(digest b "$plan")" = "$final" ] && [ "$(digest c "$plan")" = "$final" ] && ok || bad "same digest after restart"
expect 0 "status after shutdown" -- "$CAIRN" status "$T/c"
contains "$T/out" "last completed" "c's status has sessions"

# Logs: JSON lines parse, ids and counts only.
if command -v python3 >/dev/null; then
    if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$T/b.log"; then ok; else bad "b's JSON log lines parse"; fi
fi
contains "$T/b.log" '"event":"session-closed"' "json log has sessions"
contains "$T/a.log" "session-closed peer=" "text log has sessions"
for n in a b c; do
    lacks "$T/$n.log" "Zelda" "no patient content in $n's log"
    lacks "$T/$n.log" "Shared care plan" "no plan title in $n's log"
done

echo "service_test: $passes passed, $fails failed"
[ "$fails" -eq 0 ]
