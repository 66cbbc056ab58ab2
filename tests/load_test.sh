#!/usr/bin/env bash
# load_test.sh - one hub `cairn serve` and PEERS (default 50) real `cairn serve`
# processes on loopback, all syncing with it at once; `cairn status HUB` timed
# all along, the hub's memory sampled all along.
#
# The hub holds PLANS x PER_PLAN changes (default 100 x 100 = 10,000, made by
# bench_fill in batches); every peer starts empty. The hub's peer list names
# every peer and every peer's names the hub, as a real deployment would.
#   phase 1 (bootstrap): the hub starts (its first dials fail: the peers are not
#       up yet, and back off), then all peers start at once and dial it: PEERS
#       sessions of 10,000 changes each against one node.
#   phase 2 (edits): every peer makes one new plan with the CLI at once; each
#       peer's service sends it within a poll, the hub passes each on to the
#       others (it dials them when it received something).
#   phase 3 (soak): SOAK seconds of interval sessions (every INTERVAL s, both
#       ways, duplicates resolved), to see the hub's memory over many sessions.
# Converged: every peer's `plan list` (plan ids and change counts) equals the
# hub's, and the hub holds PLANS + PEERS plans and the roster.
# Status: `cairn status HUB --json` run back to back (20 ms apart) from the
# hub's start to the end of the soak, each timed as the command's wall time,
# process start included (what a person or a monitoring script waits for).
#
# Asserts: both phases converge (within 120 s each), every status call exits 0
# and lists every peer at the end, status p99 <= P99_MS (100), every service
# exits 0 on SIGTERM. Prints the figures.
#
# Usage: load_test.sh PATH-TO-cairn PATH-TO-bench_fill
# Environment: CAIRN_LOAD_PEERS (50), CAIRN_LOAD_PLANS (100),
# CAIRN_LOAD_PER_PLAN (100), CAIRN_LOAD_INTERVAL (2), CAIRN_LOAD_SOAK (10),
# CAIRN_LOAD_P99_MS (100), CAIRN_LOAD_KEEP (keep the directory).
set -u
command -v python3 >/dev/null || { echo "load_test: SKIP: needs python3"; exit 77; }
CAIRN=${1:?usage: load_test.sh PATH-TO-cairn PATH-TO-bench_fill}
FILL=${2:?usage: load_test.sh PATH-TO-cairn PATH-TO-bench_fill}
CAIRN=$(cd "$(dirname "$CAIRN")" && pwd)/$(basename "$CAIRN") # the services run in $T
N=${CAIRN_LOAD_PEERS:-50}
PLANS=${CAIRN_LOAD_PLANS:-100}
PER_PLAN=${CAIRN_LOAD_PER_PLAN:-100}
INTERVAL=${CAIRN_LOAD_INTERVAL:-2}
SOAK=${CAIRN_LOAD_SOAK:-10}
P99_MS=${CAIRN_LOAD_P99_MS:-100}
T=$(mktemp -d "${TMPDIR:-/tmp}/cairn-load-XXXXXX")
pids=()
bg=()
cleanup() {
    for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ -n "${CAIRN_LOAD_KEEP:-}" ]; then echo "load_test: kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT
fails=0
bad() {
    fails=$((fails + 1))
    echo "FAIL: $*" >&2
}
die() {
    echo "load_test: $*" >&2
    exit 1
}
now_ms() { local t=$EPOCHREALTIME; echo $((${t/./} / 1000)); }
t_begin=$(now_ms)
secs() { printf '%.1f s' "$(($1 / 100))e-1"; } # milliseconds, as seconds
el() { printf '%6s' "$(secs $(($(now_ms) - t_begin)))"; }

"$CAIRN" keygen "$T/key" >/dev/null || die "keygen"
export CAIRN_KEY_FILE="$T/key"
unset CAIRN_PASSPHRASE

# ---- the stores -----------------------------------------------------------------------
"$CAIRN" init "$T/hub" >/dev/null || die "init hub"
org=$("$CAIRN" org create "$T/hub" --name hub 2>/dev/null) || die "org create"
hubkey=$("$CAIRN" id "$T/hub")
"$CAIRN" roster add "$T/hub" "$hubkey" --name hub --roles care-manager,admin >/dev/null || die "roster hub"
declare -a key port
for i in $(seq 1 "$N"); do
    "$CAIRN" init "$T/p$i" >/dev/null || die "init p$i"
    key[i]=$("$CAIRN" id "$T/p$i")
    "$CAIRN" roster add "$T/hub" "${key[i]}" --name "peer $i" --roles care-manager >/dev/null || die "roster p$i"
    "$CAIRN" org join "$T/p$i" "$org" >/dev/null || die "join p$i"
done
"$FILL" "$T/hub" "$PLANS" "$PER_PLAN" >/dev/null || die "bench_fill"
# N + 1 free loopback ports, all bound at once so they differ.
mapfile -t ports < <(python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
for s in ss: print(s.getsockname()[1])' $((N + 1)))
[ "${#ports[@]}" -eq $((N + 1)) ] || die "no free ports"
hubport=${ports[0]}
for i in $(seq 1 "$N"); do
    port[i]=${ports[i]}
    "$CAIRN" peer add "$T/hub" "${key[i]}" "127.0.0.1:${port[i]}" --name "peer $i" >/dev/null || die "peer add hub->p$i"
    "$CAIRN" peer add "$T/p$i" "$hubkey" "127.0.0.1:$hubport" --name hub >/dev/null || die "peer add p$i->hub"
done
echo "load_test: $N peers, hub of $((PLANS * PER_PLAN)) changes in $PLANS plans; set up in $(el)"

# ---- samplers ---------------------------------------------------------------------------
# status: wall time of each `cairn status HUB --json`, its exit status.
status_loop() {
    while [ ! -e "$T/stop" ]; do
        local s=$EPOCHREALTIME
        "$CAIRN" status "$T/hub" --json >"$T/status.out" 2>"$T/status.err"
        local rc=$? e=$EPOCHREALTIME
        echo "${s/./} ${e/./} $rc" >>"$T/status.tsv"
        sleep 0.02
    done
}
# memory of one process every 100 ms: time VmRSS RssAnon RssFile VmHWM (kB).
mem_loop() {
    local pid=$1 out=$2
    while [ ! -e "$T/stop" ] && [ -e "/proc/$pid/status" ]; do
        local k v rss=0 anon=0 file=0 hwm=0
        while read -r k v _; do
            case $k in
                VmRSS:) rss=$v ;; RssAnon:) anon=$v ;; RssFile:) file=$v ;; VmHWM:) hwm=$v ;;
            esac
        done <"/proc/$pid/status" 2>/dev/null
        echo "$(now_ms) $rss $anon $file $hwm" >>"$out"
        sleep 0.1
    done
}
mark() { echo "$(now_ms) $1" >>"$T/marks"; }

# ---- phase 1: bootstrap -------------------------------------------------------------------
# In $T, and allowed a core file: a service that dies is a finding.
(cd "$T" && ulimit -c unlimited 2>/dev/null; exec "$CAIRN" serve "$T/hub" --listen "127.0.0.1:$hubport" --interval "$INTERVAL") \
    </dev/null >"$T/hub.log" 2>&1 &
hubpid=$!
pids+=("$hubpid")
for _ in $(seq 200); do grep -q listening "$T/hub.log" && break; sleep 0.05; done
grep -q listening "$T/hub.log" || die "the hub did not listen: $(cat "$T/hub.log")"
mem_loop "$hubpid" "$T/hub.mem" &
bg+=($!)
status_loop &
bg+=($!)
mark start
for i in $(seq 1 "$N"); do
    (cd "$T" && ulimit -c unlimited 2>/dev/null; exec "$CAIRN" serve "$T/p$i" --listen "127.0.0.1:${port[i]}" --interval "$INTERVAL") \
        </dev/null >"$T/p$i.log" 2>&1 &
    pids+=($!)
    ppid[i]=$!
done
echo "load_test: $(el) hub and $N peers started"

# alive: every service still runs; the end of the test otherwise.
alive() {
    local p rc
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null && continue
        wait "$p"
        rc=$?
        bad "service pid $p died (exit $rc$( [ "$rc" -gt 128 ] && echo ", signal $((rc - 128))")) during the load"
        grep -l "" "$T"/core* 2>/dev/null | sed 's/^/  core file: /' >&2
        [ "$p" = "$hubpid" ] && echo "  it was the hub; last lines:" >&2 && tail -3 "$T/hub.log" >&2
        CAIRN_LOAD_KEEP=1
        exit 1
    done
}
# converged WANT_PLANS: the hub holds WANT_PLANS plans and every peer holds what it holds.
converged() {
    local h
    h=$("$CAIRN" plan list "$T/hub" 2>/dev/null) || return 1
    [ "$(printf '%s\n' "$h" | wc -l)" -eq "$1" ] || return 1
    for i in $(seq 1 "$N"); do
        [ "$("$CAIRN" plan list "$T/p$i" 2>/dev/null)" = "$h" ] || return 1
    done
}
# wait_converged WANT_PLANS PHASE: seconds to converge, or a failure after 120 s.
wait_converged() {
    local t0 deadline
    t0=$(now_ms)
    deadline=$((t0 + 120000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        alive
        if converged "$1"; then
            echo "load_test: $(el) $2: all $N peers converged with the hub, $(secs $(($(now_ms) - t0))) after it began"
            return 0
        fi
        sleep 0.2
    done
    bad "$2: not converged after 120 s"
    for i in $(seq 1 "$N"); do
        echo "  p$i: $("$CAIRN" plan list "$T/p$i" 2>/dev/null | wc -l) plans" >&2
    done
    return 1
}
wait_converged $((PLANS + 1)) "bootstrap"
mark bootstrapped

# ---- phase 2: an edit on every peer at once -----------------------------------------------
mark edits
for i in $(seq 1 "$N"); do
    "$CAIRN" plan new "$T/p$i" --title "peer $i's plan" >/dev/null 2>"$T/edit$i.err" &
    edits[i]=$!
done
for i in $(seq 1 "$N"); do wait "${edits[i]}" || bad "plan new on p$i: $(cat "$T/edit$i.err")"; done
echo "load_test: $(el) every peer made a plan"
wait_converged $((PLANS + 1 + N)) "edits"
mark edited

# ---- phase 3: soak --------------------------------------------------------------------------
for _ in $(seq "$SOAK"); do sleep 1; alive; done
mark soaked
for i in $(seq 1 "$N"); do # each peer's peak and its anonymous memory now, before it stops
    h=0 a=0
    while read -r k v _; do case $k in VmHWM:) h=$v ;; RssAnon:) a=$v ;; esac; done <"/proc/${ppid[i]}/status"
    echo "$h $a" >>"$T/peers.mem"
done
touch "$T/stop"
for p in "${bg[@]}"; do wait "$p"; done
bg=()
converged $((PLANS + 1 + N)) || bad "not converged at the end of the soak"
grep -c '"key"' "$T/status.out" | { read -r k; [ "$k" -ge "$N" ] || bad "the last status lists $k peers, not $N"; }

# ---- stop -------------------------------------------------------------------------------------
kill -TERM "${pids[@]}"
for p in "${pids[@]}"; do wait "$p" || bad "a service (pid $p) exited $? on SIGTERM"; done
pids=()

# ---- figures ----------------------------------------------------------------------------------
echo
python3 - "$T" "$P99_MS" >"$T/figures" <<'EOF'
import sys
T, bound = sys.argv[1], float(sys.argv[2])
marks = {}
for l in open(T + "/marks"):
    t, name = l.split()
    marks[name] = int(t)
def phase(t):
    if t < marks["start"]: return "idle"
    if t < marks["bootstrapped"]: return "bootstrap"
    if t < marks["edited"]: return "edits"
    return "soak"
def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(q * len(v) + 0.999999) - 1))]
calls, failed = {}, 0
for l in open(T + "/status.tsv"):
    s, e, rc = map(int, l.split())
    calls.setdefault(phase(s // 1000), []).append((e - s) / 1000)
    failed += rc != 0
print("status: `cairn status HUB --json`, wall time per call in ms, process start included")
every = []
for ph in ("bootstrap", "edits", "soak"):
    v = calls.get(ph, [])
    every += v
    if v:
        print("  %-10s calls %5d  p50 %6.1f  p90 %6.1f  p99 %6.1f  max %6.1f" % (ph, len(v), pct(v, .5), pct(v, .9), pct(v, .99), max(v)))
p99 = pct(every, .99) if every else 1e9
print("  %-10s calls %5d  p50 %6.1f  p90 %6.1f  p99 %6.1f  max %6.1f  (target p99 <= %g)" % ("all", len(every), pct(every, .5), pct(every, .9), p99, max(every), bound))
print("  failed calls %d" % failed)
print("hub memory, MiB: RssAnon (anonymous), RssFile (file-backed: LMDB map, binary); 100 ms samples")
mem = {}
hwm = 0
for l in open(T + "/hub.mem"):
    t, rss, anon, file, h = map(int, l.split())
    mem.setdefault(phase(t), []).append((anon, file))
    hwm = max(hwm, h)
for ph in ("idle", "bootstrap", "edits", "soak"):
    v = mem.get(ph)
    if v:
        print("  %-10s samples %4d  anon peak %6.1f  anon at end %6.1f  file peak %6.1f" % (ph, len(v), max(a for a, f in v) / 1024, v[-1][0] / 1024, max(f for a, f in v) / 1024))
print("  VmHWM (peak RSS) %.1f" % (hwm / 1024))
pm = [tuple(map(int, l.split())) for l in open(T + "/peers.mem") if l.strip()]
if pm:
    print("peers (%d): VmHWM max %.1f MiB, mean %.1f MiB; RssAnon at the end max %.1f MiB" % (len(pm), max(h for h, a in pm) / 1024, sum(h for h, a in pm) / len(pm) / 1024, max(a for h, a in pm) / 1024))
open(T + "/status.summary", "w").write("%s %d %d\n" % (p99, failed, len(every)))
EOF
cat "$T/figures"
read -r p99 rcbad ncalls <"$T/status.summary"
python3 -c 'import sys; sys.exit(not float(sys.argv[1]) <= float(sys.argv[2]))' "$p99" "$P99_MS" || bad "status p99 ${p99} ms > ${P99_MS} ms"
[ "$rcbad" -eq 0 ] || bad "$rcbad status calls failed: $(cat "$T/status.err")"
[ "$ncalls" -ge 100 ] || bad "only $ncalls status calls: too few for a p99"
echo
closed=$(grep -c 'session-closed' "$T/hub.log")
echo "hub sessions closed: $closed; by reason: $(grep -o 'session-closed .* reason=[a-z-]*' "$T/hub.log" | sed 's/.*reason=//' | sort | uniq -c | awk '{printf "%s %s, ", $2, $1}')"
echo "hub dials that failed: $(grep -c 'peer-unreachable' "$T/hub.log"); peers' failed dials: $(cat "$T"/p*.log | grep -c 'peer-unreachable')"
grep 'stopped' "$T/hub.log" | sed 's/^/hub: /'
echo "load_test: $(el) done; $fails failed"
[ "$fails" -eq 0 ]
