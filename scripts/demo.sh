#!/usr/bin/env bash
# demo.sh: install what is missing, build, and run three real `cairn serve`
# processes on loopback (a clinic, an outreach worker's laptop, a hospital),
# each over its own encrypted replica. A care plan written at the clinic
# reaches the others on its own; the laptop's service is stopped, both sides
# edit (two prescribers change the same dose); the laptop's service starts
# again and the three converge with no manual sync, the dose conflict shown
# (never silently resolved) until a prescriber resolves it with a signed
# change that reaches every node. Then one manual `cairn sync DIR HOST:PORT`,
# per-peer status, the same digest on all three, and a clean SIGTERM stop.
# No prompts: the passphrase comes from CAIRN_PASSPHRASE (a demo default when
# unset); standard input is never read. Exits non-zero on any failure, after
# stopping every service it started. Files: build/demo (logs in build/demo/logs).
# The commands are shown as typed, so they are single-quoted on purpose; ids
# are kept in variables by keep (printf -v).
# shellcheck disable=SC2016,SC2154
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh release
bin=$PWD/build/release/cairn
rm -rf build/demo
mkdir -p build/demo/logs
cd build/demo
exec </dev/null
# Scripts pass the passphrase in the environment; people are asked for it.
export CAIRN_PASSPHRASE=${CAIRN_PASSPHRASE:-'clinic demo passphrase - not for real use'}
unset CAIRN_KEY_FILE

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '%s\n' "$*"; }
die() {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}
cairn() { "$bin" "$@"; }
ms() { date +%s%3N; }
# run 'COMMAND': show it as a user would type it, then run it (what it says
# on standard error shown in place, as on a terminal).
run() {
    printf '$ %s\n' "$1"
    eval "$1" 2>&1
}
# status 'COMMAND': the same, then its exit status, which must be 0.
status() {
    printf '$ %s\n' "$1"
    local rc=0
    eval "$1" 2>&1 || rc=$?
    echo "(exit status $rc)"
    [ "$rc" -eq 0 ] || die "'$1' exited $rc"
}
# fails 'COMMAND': the same, for a command that is meant to be refused.
fails() {
    printf '$ %s\n' "$1"
    if eval "$1" 2>&1; then die "'$1' unexpectedly succeeded"; else echo "(exit status $?)"; fi
}
# keep VAR 'COMMAND': run it and keep its output (an id or a key) in VAR;
# show that output, then what the command said on standard error.
keep() {
    local out
    printf '$ %s=$(%s)\n' "$1" "$2"
    if ! out=$(eval "$2" 2>.keep-err); then
        cat .keep-err
        die "'$2' failed"
    fi
    printf -v "$1" '%s' "$out"
    printf '%s\n' "$out"
    cat .keep-err
    rm -f .keep-err
}

# The services: started in the background, each logging to logs/NODE.log;
# every one still running is stopped with SIGTERM when the demo ends, however
# it ends.
declare -A pid port
cleanup() {
    local rc=$? n
    trap - EXIT INT TERM
    for n in "${!pid[@]}"; do kill -TERM "${pid[$n]}" 2>/dev/null || true; done
    for n in "${!pid[@]}"; do wait "${pid[$n]}" 2>/dev/null || true; done
    if [ "$rc" -ne 0 ]; then
        echo "demo: failed (exit status $rc); every service it started is stopped; logs in build/demo/logs" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A free loopback port: bind port 0 and read what the kernel chose (python3,
# when there is one), else a random port that nothing answers on.
free_port() {
    local p
    while :; do
        if command -v python3 >/dev/null; then
            p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        else
            p=$((20000 + RANDOM % 40000))
            if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
        fi
        case " ${port[*]:-} " in *" $p "*) continue ;; esac
        echo "$p"
        return
    done
}

# serve NODE: start NODE's service on its port, shown as typed, and wait
# (at most 5 s) until it listens.
serve() {
    local n=$1
    printf '$ cairn serve %s --listen 127.0.0.1:%s 2>>logs/%s.log & %s_pid=$!\n' "$n" "${port[$n]}" "$n" "$n"
    "$bin" serve "$n" --listen "127.0.0.1:${port[$n]}" 2>>"logs/$n.log" &
    pid[$n]=$!
    for _ in $(seq 100); do
        if [ "$(grep -c ' listening ' "logs/$n.log")" -ge "${starts[$n]}" ]; then
            starts[$n]=$((${starts[$n]} + 1))
            return
        fi
        kill -0 "${pid[$n]}" 2>/dev/null || break
        sleep 0.05
    done
    cat "logs/$n.log" >&2
    die "the $n service did not start"
}
declare -A starts=([clinic]=1 [laptop]=1 [hospital]=1)
# stop NODE: SIGTERM, and its exit status, which must be 0.
stop() {
    local n=$1 rc=0
    printf '$ kill -TERM $%s_pid; wait $%s_pid\n' "$n" "$n"
    kill -TERM "${pid[$n]}"
    wait "${pid[$n]}" || rc=$?
    unset "pid[$n]"
    echo "(exit status $rc)"
    [ "$rc" -eq 0 ] || die "the $n service exited $rc on SIGTERM"
}

# digest NODE: the first line of plan show (changes and digest), or "none".
digest() { cairn plan show "$1" "$plan" 2>/dev/null | head -1 || echo none; }
# converge SECONDS NODE...: wait until every NODE shows the same digest of the
# plan, at most SECONDS; show how long it took, and each digest.
converge() {
    local limit=$1 t0 n first
    shift
    t0=$(ms)
    while :; do
        first=$(digest "$1")
        local same=1
        for n in "${@:2}"; do [ "$(digest "$n")" = "$first" ] || same=0; done
        if [ "$same" = 1 ] && [ "$first" != none ]; then break; fi
        [ $(($(ms) - t0)) -lt $((limit * 1000)) ] || {
            for n in "$@"; do echo "  $n: $(digest "$n")"; done
            die "$* did not converge within $limit s"
        }
        sleep 0.1
    done
    local who="$*"
    say "(${who// /, }: the same digest after $(($(ms) - t0)) ms; the wait is bounded at $limit s)"
}
show_digests() { for n in clinic laptop hospital; do run "cairn plan show $n \"\$plan\" | head -1"; done; }

step "Three nodes, each an encrypted replica in its own directory"
say "(Argon2id at its 'interactive' cost, for a quick demo)"
for node in clinic laptop hospital; do run "cairn init $node --kdf interactive"; done

step "One organisation; the roster gives each node its roles"
keep org 'cairn org create clinic --name clinic'
keep clinic 'cairn id clinic'
keep laptop 'cairn id laptop'
keep hospital 'cairn id hospital'
say "(the clinic: the care manager. The laptop: the outreach worker, and the clinic's"
say " primary-care prescriber on joint home visits. The hospital: the psychiatrist.)"
run 'cairn roster add clinic "$clinic" --name "clinic care manager" --roles care-manager,admin'
run 'cairn roster add clinic "$laptop" --name "outreach laptop" --roles outreach,prescriber'
run 'cairn roster add clinic "$hospital" --name "hospital psychiatry" --roles prescriber'
run 'cairn org join laptop "$org"'
run 'cairn org join hospital "$org"'
run 'cairn org show clinic'

step "Each node is told where to dial the two others, and its service starts"
for n in clinic laptop hospital; do port[$n]=$(free_port); done
say "(free loopback ports picked now: clinic ${port[clinic]}, laptop ${port[laptop]}, hospital ${port[hospital]})"
for n in clinic laptop hospital; do
    for m in clinic laptop hospital; do
        [ "$n" = "$m" ] || run "cairn peer add $n \"\$$m\" 127.0.0.1:${port[$m]} --name $m"
    done
done
run 'cairn peer list laptop'
for n in clinic laptop hospital; do serve "$n"; done
run 'head -n 2 logs/clinic.log'

step "The care manager writes a care plan at the clinic; it reaches the others on its own"
keep plan 'cairn plan new clinic --title "Shared care plan"'
run 'cairn plan set clinic "$plan" patient display_name="Amara Lindqvist-Obi" birth_date=1987-03-14'
run 'cairn plan set clinic "$plan" plan status=active'
keep need 'cairn plan add clinic "$plan" need domain=housing description="temporary accommodation ends in 3 weeks" status=open'
say "(the laptop and the hospital are on this patient's care team: only then may they hold the plan)"
keep m1 'cairn plan add clinic "$plan" member person_key=$laptop name="outreach worker" role=outreach-worker'
keep m2 'cairn plan add clinic "$plan" member person_key=$hospital name="ward psychiatrist" role=prescriber'
converge 10 clinic laptop hospital
say "(the psychiatrist prescribes, at the hospital)"
keep med 'cairn plan add hospital "$plan" medication drug=sertraline dose="50 mg" frequency=daily status=active'
converge 10 clinic laptop hospital
run 'cairn plan show laptop "$plan"'
run 'cairn plan show clinic "$plan" --json | grep digest'
run 'cairn plan show hospital "$plan" --json | grep digest'
run 'grep session-closed logs/hospital.log | grep -v "changes_in=0 changes_out=0" | tail -n 2'

step "The laptop goes offline: its service stops"
stop laptop
offline_from=$(($(wc -l <logs/clinic.log) + 1))

step "Both sides edit while the laptop is offline"
say "(on the laptop, on a home visit: the outreach worker records a check-in, and the"
say " primary-care prescriber raises the dose)"
run 'cairn plan add laptop "$plan" checkin kind=outreach adherence=partial phq9=14 time=$(date +%s%3N)'
run 'cairn plan set laptop "$plan" medication:$med dose="100 mg"'
say "(at the hospital, at the same time, the psychiatrist changes the same dose)"
run 'cairn plan set hospital "$plan" medication:$med dose="75 mg"'
say "(at the clinic, the care manager refers the patient for housing; a dose is not hers to change)"
keep ref 'cairn plan add clinic "$plan" referral to_org="Riverside Housing Trust" specialty=housing link=$need status=sent'
fails 'cairn plan set clinic "$plan" medication:$med dose="25 mg"'
say "(the services that are up converge between themselves; the laptop cannot be reached)"
converge 10 clinic hospital
show_digests
# The clinic's edit makes its service dial the laptop: wait for that attempt.
for _ in $(seq 50); do
    tail -n +"$offline_from" logs/clinic.log | grep -q "peer-backoff peer=${laptop:0:8}" && break
    sleep 0.1
done
run 'grep "peer=${laptop:0:8}" logs/clinic.log | tail -n 2'

step "The laptop comes back: its service starts again, and the three converge on their own"
serve laptop
converge 10 clinic laptop hospital
say "(the two dose changes were concurrent: neither saw the other; both are kept, on every node)"
run 'cairn conflicts laptop "$plan"'
run 'cairn plan show clinic "$plan" | sed -n "1,2p;/^medication/,/^  status/p"'
run 'grep session-closed logs/laptop.log | grep -v "changes_in=0 changes_out=0" | tail -n 2'
cairn conflicts hospital "$plan" | grep -q 'dose: 2 values' || die "the hospital does not show the dose conflict"

step "The psychiatrist resolves it: a signed change that has seen both values"
run 'cairn plan set hospital "$plan" medication:$med dose="75 mg"'
converge 10 clinic laptop hospital
for node in clinic laptop hospital; do run "cairn conflicts $node \"\$plan\""; done
for node in clinic laptop hospital; do
    cairn conflicts "$node" "$plan" | grep -q '^no conflicts$' || die "$node still shows a conflict"
done
run 'cairn plan show laptop "$plan" | grep dose'

step "One manual session: the clinic asks the hospital's service directly"
status "cairn sync clinic 127.0.0.1:${port[hospital]}"

step "Am I up to date? The clinic's sync status, per peer"
run 'cairn status clinic'

step "The services stop cleanly on SIGTERM"
for n in clinic laptop hospital; do stop "$n"; done
run 'tail -n 2 logs/hospital.log'

step "No patient content in any log, nor readable in any store file (what a stolen disk shows)"
say "(the patient's name and birth date, and the passphrase: each file, the count of lines holding one)"
run 'grep -rcF -e Lindqvist -e 1987-03-14 -e "$CAIRN_PASSPHRASE" logs clinic laptop hospital || true'
if grep -rqF -e Lindqvist -e 1987-03-14 -e "$CAIRN_PASSPHRASE" logs clinic laptop hospital; then
    die "patient content or the passphrase is in a file"
fi

step "A wrong passphrase is refused, and nothing is changed"
fails 'CAIRN_PASSPHRASE=guess cairn status clinic'

step "The end: the same plan on all three nodes (their stores reopened after the stop)"
show_digests
if [ "$(digest clinic)" != "$(digest laptop)" ] || [ "$(digest laptop)" != "$(digest hospital)" ]; then
    die "the three nodes do not hold the same plan"
fi
