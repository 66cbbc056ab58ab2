#!/usr/bin/env bash
# faults_test.sh - real `cairn serve` processes under faults (issue 9, item 7).
# Usage: faults_test.sh PATH-TO-cairn PATH-TO-proxy SCENARIO
#   proxy    three services dialling each other through tests/proxy.c with
#            delays, cuts, truncations, duplicates and flipped bits, while the
#            CLI edits beside them; faults off, then convergence within a
#            bound and every edit whose command returned 0 on every node
#   kill     a service SIGKILLed twice while receiving a large difference
#            (2,400 changes) and restarted: the store opens, counts never go
#            down, its own acknowledged edits stay, and it converges
#   hostile  garbage (three kinds), a half-open connection and a stranger's
#            handshake on a service's port: each closed (reason from the log)
#            while a real peer keeps syncing
#   stuck    a slow-loris peer (a byte every 4 s) and a session whose frame
#            length was corrupted below the limit: each must end within the
#            protocol's timeout (60 s) plus slack, and a stuck session must not
#            keep its peer from syncing; a real peer keeps syncing meanwhile
#   netns    as root with `ip netns`: three nodes in namespaces on a bridge,
#            one node's link cut and restored, then convergence; otherwise
#            "skipped: ..."
# Ports are chosen at run time; every process started is killed on exit.
# CAIRN_FAULTS_KEEP=1 keeps the temporary directory (logs) and prints it.
set -u
CAIRN=${1:?usage: faults_test.sh PATH-TO-cairn PATH-TO-proxy SCENARIO}
PROXY=${2:?usage: faults_test.sh PATH-TO-cairn PATH-TO-proxy SCENARIO}
SCEN=${3:?usage: faults_test.sh PATH-TO-cairn PATH-TO-proxy SCENARIO}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-faults-XXXXXX")
pids=()
namespaces=()
links=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for ns in "${namespaces[@]}"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    wait 2>/dev/null
    if [ -n "${CAIRN_FAULTS_KEEP:-}" ]; then echo "faults_test: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$CAIRN" keygen "$T/key" >/dev/null
export CAIRN_KEY_FILE="$T/key"
unset CAIRN_PASSPHRASE
fails=0 passes=0
say() { echo "faults_test[$SCEN]: $*"; }
ok() { passes=$((passes + 1)); }
bad() {
    fails=$((fails + 1))
    echo "FAIL[$SCEN]: $*" >&2
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
ms() { date +%s%3N; }
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
declare -A key port addr pid plog NSEXEC

# org NODE...: the first creates the organisation; every node is a care
# manager (may hold every plan) and admin.
org() {
    local n first=$1
    for n in "$@"; do "$CAIRN" init "$T/$n" >/dev/null; done
    orgkey=$("$CAIRN" org create "$T/$first" --name clinic 2>/dev/null)
    for n in "$@"; do key[$n]=$("$CAIRN" id "$T/$n"); done
    for n in "$@"; do
        "$CAIRN" roster add "$T/$first" "${key[$n]}" --name "node $n" --roles care-manager,admin >/dev/null
    done
    for n in "$@"; do [ "$n" = "$first" ] || "$CAIRN" org join "$T/$n" "$orgkey" >/dev/null; done
}

# start NODE [serve options]: a service on addr[NODE], log appended to NODE.log;
# waits until it listens (the count of "listening" lines grows).
start() {
    local n=$1 before
    shift
    before=$(grep -c ' listening ' "$T/$n.log" 2>/dev/null)
    before=${before:-0}
    ${NSEXEC[$n]:-} "$CAIRN" serve "$T/$n" --listen "${addr[$n]}" --log-level debug "$@" \
        </dev/null >>"$T/$n.log" 2>&1 &
    pid[$n]=$!
    pids+=($!)
    for _ in $(seq 200); do
        [ "$(grep -c ' listening ' "$T/$n.log")" -gt "$before" ] && { ok; return; }
        sleep 0.05
    done
    bad "service $n did not listen"
    tail -5 "$T/$n.log" >&2
}
# stop NODE: SIGTERM, exit status 0.
stop() {
    kill -TERM "${pid[$1]}"
    wait "${pid[$1]}"
    local rc=$?
    [ "$rc" -eq 0 ] && ok || bad "service $1 exited $rc on SIGTERM"
}
# proxy NAME TARGET-PORT [proxy options]: sets port[NAME], plog[NAME].
proxy() {
    local n=$1 tp=$2
    shift 2
    plog[$n]="$T/proxy-$n.log"
    "$PROXY" --target "127.0.0.1:$tp" "$@" >"$T/proxy-$n.port" 2>"${plog[$n]}" </dev/null &
    pid[$n]=$!
    pids+=($!)
    for _ in $(seq 100); do
        grep -q '^port ' "$T/proxy-$n.port" && break
        sleep 0.05
    done
    port[$n]=$(sed -n 's/^port //p' "$T/proxy-$n.port")
    [ -n "${port[$n]}" ] && ok || bad "proxy $n did not start"
}
# digest NODE PLAN: the first line of plan show (changes and digest).
digest() { "$CAIRN" plan show "$T/$1" "$2" 2>/dev/null | head -1; }
# converged SECONDS PLANS-FILE NODE...: every plan listed has one digest on every node.
converged() {
    local limit=$1 plans=$2
    shift 2
    local deadline=$(($(ms) + limit * 1000)) p n d0 d all
    while [ "$(ms)" -lt "$deadline" ]; do
        all=1
        while read -r p; do
            d0=$(digest "$1" "$p")
            [ -n "$d0" ] || { all=0; break; }
            for n in "$@"; do
                d=$(digest "$n" "$p")
                [ "$d" = "$d0" ] || { all=0; break 2; }
            done
        done <"$plans"
        [ "$all" = 1 ] && return 0
        sleep 0.25
    done
    return 1
}
# changes NODE [PLANS-FILE]: the changes of every plan but the roster (of those listed).
changes() {
    "$CAIRN" plan list "$T/$1" --json 2>/dev/null | python3 -c '
import json, sys
only = {l.strip() for l in open(sys.argv[1])} if len(sys.argv) > 1 else None
print(sum(p["changes"] for p in json.load(sys.stdin)
          if not p["roster"] and (only is None or p["plan"] in only)))' ${2:+"$2"}
}
# acked_present NODE PLAN IDS-FILE: every entity id of the file is in the plan there.
acked_present() {
    "$CAIRN" plan show "$T/$1" "$2" --json >"$T/show.json" 2>/dev/null || { echo "no plan"; return; }
    python3 - "$T/show.json" "$3" <<'EOF'
import json, sys
ids = {e.get("id") for e in json.load(open(sys.argv[1]))["entities"]}
want = [l.split()[0] for l in open(sys.argv[2]) if l.strip()]
missing = [w for w in want if w not in ids]
print(len(missing), "missing of", len(want), (" e.g. " + missing[0]) if missing else "")
EOF
}
# reasons LOG: the close reasons of the log's sessions, counted.
reasons() { grep -o 'session-closed.*reason=[a-z-]*' "$1" | sed 's/.*dir=\([a-z]*\) reason=/\1:/' | sort | uniq -c | tr -s ' \n' ' '; }
# no_store_errors NODE: the log names no corrupt store nor failed write.
no_store_errors() {
    if grep -Eq 'ECORRUPT|corrupt|status-write-failed|reason=store' "$T/$1.log"; then
        bad "$1's log shows a store error"
        grep -E 'ECORRUPT|corrupt|status-write-failed|reason=store' "$T/$1.log" | head -3 >&2
    else ok; fi
}
# edit_loop NODE PLAN SECONDS OUT: `plan add` needs for SECONDS; each line of OUT
# is the id of an entity whose command returned 0; failures counted in OUT.fail.
edit_loop() {
    local n=$1 p=$2 until=$(($(ms) + $3 * 1000)) id
    : >"$4"
    : >"$4.fail"
    while [ "$(ms)" -lt "$until" ]; do
        if id=$(timeout 30 "$CAIRN" plan add "$T/$n" "$p" need domain=housing status=open 2>/dev/null </dev/null); then
            echo "$id" >>"$4"
        else
            echo fail >>"$4.fail"
        fi
        sleep 0.05
    done
}

# ---------------------------------------------------------------------------------------
scenario_proxy() {
    local n m i=0 seed=${CAIRN_FAULTS_SEED:-7}
    org a b c
    for n in a b c; do
        port[$n]=$(free_port)
        addr[$n]="127.0.0.1:${port[$n]}"
    done
    # One proxy in front of each service: every peer dials it there. Faults
    # start off, so the shared plan first reaches everyone cleanly.
    for n in a b c; do
        i=$((i + 1))
        proxy "p$n" "${port[$n]}" --off --seed $((seed * 10 + i)) --chunk 600 --delay 0.08:300 \
            --cut 0.3:6000 --truncate 0.015 --dup 0.02 --corrupt 0.02
    done
    for n in a b c; do
        for m in a b c; do
            [ "$n" = "$m" ] || "$CAIRN" peer add "$T/$n" "${key[$m]}" "127.0.0.1:${port[p$m]}" >/dev/null
        done
    done
    for n in a b c; do start "$n" --interval 2; done
    local shared
    shared=$("$CAIRN" plan new "$T/a" --title shared 2>/dev/null)
    echo "$shared" >"$T/plans"
    if converged 20 "$T/plans" a b c; then ok; else bad "the shared plan reached b and c before faults"; fi
    # Faults on; every node edits the shared plan and a plan of its own.
    for n in a b c; do kill -USR2 "${pid[p$n]}"; done
    say "faults on (seed $seed): edits on a, b, c for 20 s"
    local t0
    t0=$(ms)
    for n in a b c; do
        "$CAIRN" plan new "$T/$n" --title "own $n" 2>/dev/null >"$T/own.$n"
        cat "$T/own.$n" >>"$T/plans"
        edit_loop "$n" "$shared" 20 "$T/acked.$n" &
        edit_loop "$n" "$(cat "$T/own.$n")" 20 "$T/acked-own.$n" &
    done
    wait_edits
    for n in a b c; do kill -USR1 "${pid[p$n]}"; done
    sleep 0.2
    local total=0 f
    for n in a b c; do
        total=$((total + $(wc -l <"$T/acked.$n") + $(wc -l <"$T/acked-own.$n")))
        f=$(($(wc -l <"$T/acked.$n.fail") + $(wc -l <"$T/acked-own.$n.fail")))
        [ "$f" -eq 0 ] && ok || bad "$f CLI edits failed on $n beside its service"
    done
    say "faults off after $(($(ms) - t0)) ms; $total edits acknowledged"
    for n in a b c; do say "proxy p$n: $(grep ' faults off connections=' "${plog[p$n]}" | sed 's/.*faults off //')"; done
    # Every kind of fault happened somewhere.
    local kind sum
    for kind in delay cut truncate dup corrupt; do
        sum=0
        for n in a b c; do
            sum=$((sum + $(grep ' faults off connections=' "${plog[p$n]}" | sed -n "s/.* $kind=\([0-9]*\).*/\1/p")))
        done
        [ "$sum" -gt 0 ] && ok || bad "the proxies injected no $kind"
    done
    # A bounded wait: backoff after failed sessions is at most 300 s by design,
    # but 20 s of faults double it only a few times.
    t0=$(ms)
    if converged 100 "$T/plans" a b c; then
        ok
        say "converged $(($(ms) - t0)) ms after the faults went off"
    else
        bad "no convergence within 100 s of the faults going off"
        for p in $(cat "$T/plans"); do for n in a b c; do echo "  $n $(digest $n "$p")" >&2; done; done
    fi
    local r
    for n in a b c; do
        for m in a b c; do
            r=$(acked_present "$m" "$shared" "$T/acked.$n")
            case $r in 0\ *) ok ;; *) bad "$n's acknowledged edits of the shared plan on $m: $r" ;; esac
            r=$(acked_present "$m" "$(cat "$T/own.$n")" "$T/acked-own.$n")
            case $r in 0\ *) ok ;; *) bad "$n's acknowledged edits of its own plan on $m: $r" ;; esac
        done
    done
    for n in a b c; do
        say "$n's sessions: $(reasons "$T/$n.log")"
        no_store_errors "$n"
    done
    for n in a b c; do stop "$n"; done
    for n in a b c; do expect 0 "$n reopens" -- "$CAIRN" status "$T/$n"; done
}
wait_edits() { # wait for the background edit loops (not the services or proxies)
    local j
    for j in $(jobs -p); do
        case " ${pids[*]} " in *" $j "*) ;; *) wait "$j" ;; esac
    done
}

# ---------------------------------------------------------------------------------------
scenario_kill() {
    local nplans=24 per=100 i p n
    org a b
    port[a]=$(free_port) port[b]=$(free_port)
    addr[a]="127.0.0.1:${port[a]}" addr[b]="127.0.0.1:${port[b]}"
    # b gets the roster first (a local two-directory sync), so that it may edit.
    expect 0 "b receives the roster" -- "$CAIRN" sync "$T/b" "$T/a"
    local own
    own=$("$CAIRN" plan new "$T/b" --title "b's own" 2>/dev/null)
    # a holds a large difference: 24 plans of 100 changes, made before any service.
    : >"$T/plans"
    for i in $(seq $nplans); do "$CAIRN" plan new "$T/a" 2>/dev/null >>"$T/plans"; done
    local t0
    t0=$(ms)
    split -n l/2 "$T/plans" "$T/half."
    for f in "$T"/half.*; do
        (while read -r p; do
            for i in $(seq $((per - 1))); do
                "$CAIRN" plan add "$T/a" "$p" need domain=housing status=open >/dev/null 2>&1 </dev/null
            done
        done <"$f") &
    done
    wait_edits
    local total
    cp "$T/plans" "$T/aplans"
    total=$(changes a "$T/aplans")
    [ "$total" -eq $((nplans * per)) ] && ok || bad "a holds $total changes, expected $((nplans * per))"
    say "a holds $total changes in $nplans plans (made in $(($(ms) - t0)) ms)"
    # b dials a through a proxy that only delays, so the push takes seconds; a
    # does not dial b, so everything comes over that one slow connection.
    proxy pa "${port[a]}" --seed 3 --chunk 2048 --delay 1.0:12
    "$CAIRN" peer add "$T/b" "${key[a]}" "127.0.0.1:${port[pa]}" >/dev/null
    echo "$own" >>"$T/plans"
    start a --interval 600
    : >"$T/acked-b"
    local round before after c
    for round in 1 2; do
        start b --interval 2
        # b edits its own plan while it receives; kill it in the middle.
        edit_loop b "$own" 4 "$T/acked-b.$round" &
        before=$(changes b "$T/aplans")
        c=$before
        t0=$(ms)
        while [ "$(ms)" -lt $((t0 + 30000)) ]; do
            c=$(changes b "$T/aplans")
            [ "$c" -gt "$before" ] && break
            sleep 0.05
        done
        # Round 1 right after a commit, round 2 while the next frame arrives.
        [ "$round" = 2 ] && sleep 0.6 && c=$(changes b "$T/aplans")
        kill -KILL "${pid[b]}"
        wait "${pid[b]}" 2>/dev/null
        wait_edits
        cat "$T/acked-b.$round" >>"$T/acked-b"
        if [ "$c" -gt "$before" ] && [ "$c" -lt "$total" ]; then ok; else
            bad "round $round: b was not killed mid-transfer (changes $before -> $c of $total)"
        fi
        expect 0 "b's store opens after SIGKILL $round" -- "$CAIRN" status "$T/b"
        after=$(changes b "$T/aplans")
        say "round $round: $(wc -l <"$T/acked-b.$round") edits acknowledged on b meanwhile"
        say "round $round: killed b at $c changes received of $total ($(($(ms) - t0)) ms in); after restart $after"
        [ "$after" -ge "$c" ] && ok || bad "round $round: b's count went down: $c before SIGKILL, $after after"
        r=$(acked_present b "$own" "$T/acked-b")
        case $r in 0\ *) ok ;; *) bad "round $round: b's acknowledged edits after SIGKILL: $r" ;; esac
    done
    start b --interval 2
    t0=$(ms)
    if converged 60 "$T/plans" a b; then
        ok
        say "b converged $(($(ms) - t0)) ms after its last restart"
    else
        bad "b did not converge with a within 60 s after SIGKILLs ($(changes b "$T/aplans") of $total)"
    fi
    r=$(acked_present a "$own" "$T/acked-b")
    case $r in 0\ *) ok ;; *) bad "b's acknowledged edits on a: $r" ;; esac
    [ "$(changes b "$T/aplans")" -ge "$total" ] && ok || bad "b holds fewer than a's $total changes"
    say "b's sessions: $(reasons "$T/b.log")"
    say "a's sessions: $(reasons "$T/a.log")"
    no_store_errors b
    no_store_errors a
    stop b
    stop a
}

# ---------------------------------------------------------------------------------------
# hostile: garbage, a half-open connection, a stranger. stuck (the same setup):
# a slow-loris peer and a frame length corrupted below the limit, which the
# service lets live; they are apart so that the known failures stand alone.
scenario_stuck() { scenario_hostile; }
scenario_hostile() {
    local stuck=0
    [ "$SCEN" = stuck ] && stuck=1
    command -v python3 >/dev/null || { say "skipped: no python3 for the hostile clients"; return; }
    org a b d e
    "$CAIRN" init "$T/stranger" >/dev/null
    "$CAIRN" org create "$T/stranger" >/dev/null 2>&1
    port[a]=$(free_port) port[b]=$(free_port)
    addr[a]="127.0.0.1:${port[a]}" addr[b]="127.0.0.1:${port[b]}"
    "$CAIRN" peer add "$T/a" "${key[b]}" "${addr[b]}" >/dev/null
    "$CAIRN" peer add "$T/b" "${key[a]}" "${addr[a]}" >/dev/null
    start a --interval 600
    start b --interval 600
    local plan
    plan=$("$CAIRN" plan new "$T/a" --title hostile 2>/dev/null)
    echo "$plan" >"$T/plans"
    if converged 15 "$T/plans" a b; then ok; else bad "a's plan reached b"; fi
    # real_peer WHEN: b's edit reaches a's service, and d syncs with it by hand.
    real_peer() {
        expect 0 "b edits ($1)" -- "$CAIRN" plan add "$T/b" "$plan" need domain=housing status=open
        if converged 15 "$T/plans" a b; then ok; else bad "b's edit did not reach a ($1)"; fi
        expect 0 "d syncs with a ($1)" -- "$CAIRN" sync "$T/d" "${addr[a]}"
        [ "$(digest d "$plan")" = "$(digest a "$plan")" ] && ok || bad "d holds a's plan ($1)"
    }
    local t0 k
    t0=$(ms)
    local probes="garbage-http garbage-random garbage-zeros halfopen"
    [ $stuck = 1 ] && probes=slowloris
    for k in $probes; do
        python3 "$HERE/faults_probe.py" "$k" 127.0.0.1 "${port[a]}" 75 "$T/probe.$k" &
    done
    [ $stuck = 1 ] && stuck_session
    sleep 2
    real_peer "after garbage, with a half-open or a slow-loris connection open"
    if [ $stuck = 1 ]; then
        # e, whose corrupted session is stuck, syncs again directly: the stuck
        # session must not hold the pair's one session slot for ever.
        expect 0 "e syncs directly while its corrupted session hangs" -- "$CAIRN" sync "$T/e" "${addr[a]}"
    else
        expect 5 "a stranger is refused" -- "$CAIRN" sync "$T/stranger" "${addr[a]}"
        grep -q 'refused (auth)' "$T/out" && ok || bad "the stranger was not refused for auth"
        sleep 1
        real_peer "after the stranger"
    fi
    sleep 30
    real_peer "30 s in"
    wait_edits
    say "hostile clients done after $(($(ms) - t0)) ms"
    local line
    for k in $probes; do
        line=$(cat "$T/probe.$k" 2>/dev/null)
        say "$k: ${line:-no result}"
        case $k:$line in
        garbage-*:closed\ *)
            set -- $line
            [ "$2" -le 5000 ] && ok || bad "$k was closed only after $2 ms"
            ;;
        halfopen:closed\ *)
            set -- $line
            [ "$2" -le 75000 ] && ok || bad "the half-open connection was closed only after $2 ms"
            ;;
        slowloris:closed\ *)
            set -- $line
            [ "$2" -le 75000 ] && ok || bad "the slow-loris connection was closed only after $2 ms"
            ;;
        slowloris:*) bad "the slow-loris connection (a byte every 4 s) was still open after 75 s: every byte restarts the 60 s timeout, the handshake has no deadline" ;;
        *) bad "$k: not closed by the service ($line)" ;;
        esac
    done
    say "a's sessions: $(reasons "$T/a.log")"
    grep 'session-closed peer=- ' "$T/a.log" | sed 's/^[^ ]* [a-z]* /  a: /; s/ changes_in=.* bytes_in=/ bytes_in=/'
    if [ $stuck = 1 ]; then
        line=$(cat "$T/bump.rc" 2>/dev/null)
        say "corrupted frame length: cairn sync exit and ms: ${line:-none}; $(tail -1 "$T/bump.out")"
        case $line in
        3\ *) ok ;;
        124\ *) bad "a session with a frame length corrupted below the limit did not end within 80 s, 20 s past the protocol timeout (the PINGs keep it alive)" ;;
        *) bad "a session with a corrupted frame length: exit ${line:-none}, expected 3 (partial)" ;;
        esac
    else
        # The service named a reason for each closed stranger connection.
        grep -q 'peer=- dir=in reason=too-big' "$T/a.log" && ok || bad "no too-big close for the HTTP garbage"
        grep -q 'peer=- dir=in reason=timeout' "$T/a.log" && ok || bad "no timeout close for the half-open connection"
        [ "$(grep -c 'peer=- dir=in reason=' "$T/a.log")" -ge 5 ] && ok ||
            bad "fewer than 5 unauthenticated connections logged as closed"
    fi
    real_peer "at the end"
    no_store_errors a
    stop a
    stop b
}
# stuck_session: e syncs with a through a proxy that corrupts the length of a's
# second frame (+4096, below the 1 MiB limit): e waits for bytes that never
# come, and both sides keep each other alive with PINGs. Runs in the background.
stuck_session() {
    proxy bump "${port[a]}" --off --bump-len s2c:1
    expect 0 "b edits for e to fetch" -- "$CAIRN" plan add "$T/b" "$plan" need domain=nutrition status=open
    converged 15 "$T/plans" a b || bad "b's edit for e reached a"
    (
        s=$(ms)
        timeout 80 "$CAIRN" sync "$T/e" "127.0.0.1:${port[bump]}" </dev/null >"$T/bump.out" 2>&1
        echo "$? $(($(ms) - s))" >"$T/bump.rc"
    ) &
}

# ---------------------------------------------------------------------------------------
scenario_netns() {
    if [ "$(id -u)" != 0 ]; then say "skipped: not root, no network namespaces"; return; fi
    local tag=cf$$ n i=0
    if ! ip netns add "${tag}hub" 2>/dev/null; then say "skipped: ip netns add failed"; return; fi
    namespaces+=("${tag}hub")
    ip -n "${tag}hub" link add br0 type bridge && ip -n "${tag}hub" link set br0 up || {
        bad "no bridge in the hub namespace"
        return
    }
    org a b c
    for n in a b c; do
        i=$((i + 1))
        ip netns add "$tag$n" && namespaces+=("$tag$n")
        ip link add "${tag}$n" type veth peer name "${tag}${n}h" || { bad "veth for $n"; return; }
        ip link set "${tag}$n" netns "$tag$n"
        ip link set "${tag}${n}h" netns "${tag}hub"
        ip -n "${tag}hub" link set "${tag}${n}h" master br0 up
        ip -n "$tag$n" link set lo up
        ip -n "$tag$n" addr add "10.203.0.$i/24" dev "${tag}$n"
        ip -n "$tag$n" link set "${tag}$n" up
        addr[$n]="10.203.0.$i:7433"
        NSEXEC[$n]="ip netns exec $tag$n"
    done
    for n in a b c; do
        for m in a b c; do [ "$n" = "$m" ] || "$CAIRN" peer add "$T/$n" "${key[$m]}" "${addr[$m]}" >/dev/null; done
    done
    for n in a b c; do start "$n" --interval 2; done
    local plan
    plan=$("$CAIRN" plan new "$T/a" --title netns 2>/dev/null)
    echo "$plan" >"$T/plans"
    if converged 20 "$T/plans" a b c; then ok; else bad "the plan reached b and c over veth"; fi
    # Cut c's cable at the bridge (c's own interface stays up, so its packets
    # vanish: dials wait for the 10 s connect timeout, live sessions stall);
    # both sides edit; restore it.
    ip -n "${tag}hub" link set "${tag}ch" down
    say "c's link down (at the bridge)"
    edit_loop a "$plan" 10 "$T/acked.a" &
    edit_loop c "$plan" 10 "$T/acked.c" &
    wait_edits
    sleep 2
    [ "$(digest a "$plan")" != "$(digest c "$plan")" ] && ok || bad "c received edits with its link down"
    ip -n "${tag}hub" link set "${tag}ch" up
    say "c's link up again after 12 s"
    local t0
    t0=$(ms)
    if converged 60 "$T/plans" a b c; then
        ok
        say "converged $(($(ms) - t0)) ms after the link came back"
    else bad "no convergence within 60 s after the link came back"; fi
    for n in a b c; do
        for m in a c; do
            r=$(acked_present "$n" "$plan" "$T/acked.$m")
            case $r in 0\ *) ok ;; *) bad "$m's acknowledged edits on $n: $r" ;; esac
        done
        say "$n's sessions: $(reasons "$T/$n.log")"
    done
    grep -q 'peer-unreachable\|peer-backoff' "$T/c.log" && ok || bad "c logged no unreachable peer while cut off"
    grep 'peer-unreachable\|peer-backoff' "$T/c.log" | sed 's/^[^ ]* [a-z]* /  c: /' | head -4
    for n in a b c; do stop "$n"; done
}

t_begin=$(ms)
case $SCEN in
proxy | kill | hostile | stuck | netns) "scenario_$SCEN" ;;
*) echo "faults_test: unknown scenario $SCEN" >&2; exit 2 ;;
esac
say "$passes passed, $fails failed in $(($(ms) - t_begin)) ms"
if [ "$fails" -ne 0 ]; then
    for f in "$T"/*.log; do
        echo "--- last lines of $(basename "$f")" >&2
        tail -8 "$f" >&2
    done
fi
[ "$fails" -eq 0 ]
