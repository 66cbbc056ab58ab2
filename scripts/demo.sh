#!/usr/bin/env bash
# demo.sh: install what is missing, build, and show three sites sharing one
# care plan: a clinic, an outreach worker's laptop and a hospital. They work
# offline, exchange changes by bundle file and by the sync protocol (in
# process until the network service exists), converge on the same plan, and
# surface (not silently resolve) a concurrent medication change. Nothing
# readable reaches the disk. No prompts: the passphrase comes from
# CAIRN_PASSPHRASE (a demo default when unset).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh release
bin=$PWD/build/release/cairn
rm -rf build/demo
mkdir -p build/demo
cd build/demo
# Scripts pass the passphrase in the environment; people are asked for it.
export CAIRN_PASSPHRASE=${CAIRN_PASSPHRASE:-'clinic demo passphrase - not for real use'}
unset CAIRN_KEY_FILE

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
say() { printf '%s\n' "$*"; }
cairn() { "$bin" "$@"; }
# run 'COMMAND': show it as a user would type it, then run it.
run() {
    printf '$ %s\n' "$1"
    eval "$1"
}
# fails 'COMMAND': the same, for a command that is meant to be refused.
fails() {
    printf '$ %s\n' "$1"
    if eval "$1" 2>&1; then echo "(unexpectedly succeeded)"; exit 1; else echo "(exit status $?)"; fi
}
# keep VAR 'COMMAND': run it and keep its output (an id or a key) in VAR;
# show that output, then what the command said on standard error.
keep() {
    local out
    printf '$ %s=$(%s)\n' "$1" "$2"
    if ! out=$(eval "$2" 2>.keep-err); then cat .keep-err; exit 1; fi
    printf -v "$1" '%s' "$out"
    printf '%s\n' "$out"
    cat .keep-err
    rm -f .keep-err
}
# carry A B: carry everything A holds to B in a bundle sealed for B.
carry() {
    run "cairn bundle export $1 --to \"\$$2\" $1-to-$2.bundle"
    run "cairn bundle import $2 $1-to-$2.bundle"
}

step "Three nodes, each an encrypted replica (Argon2id 'interactive' cost, for a quick demo)"
for node in clinic laptop hospital; do run "cairn init $node --kdf interactive"; done

step "The clinic creates the organisation and enrols the laptop and the hospital"
keep org 'cairn org create clinic --name clinic'
keep clinic 'cairn id clinic'
keep laptop 'cairn id laptop'
keep hospital 'cairn id hospital'
say "(the clinic's node serves the care manager and the clinic psychiatrist, a prescriber)"
run 'cairn roster add clinic "$clinic" --name clinic --roles care-manager,prescriber,admin'
run 'cairn roster add clinic "$laptop" --name "outreach laptop" --roles outreach'
run 'cairn roster add clinic "$hospital" --name hospital --roles prescriber'
run 'cairn org join laptop "$org"'
run 'cairn org join hospital "$org"'
run 'cairn org show clinic'

step "The clinic writes a care plan: the patient, a need, a medication"
keep plan 'cairn plan new clinic --title "Shared care plan"'
run 'cairn plan set clinic "$plan" patient display_name="Amara Lindqvist-Obi" birth_date=1987-03-14'
run 'cairn plan set clinic "$plan" plan status=active'
keep need 'cairn plan add clinic "$plan" need domain=housing description="temporary accommodation ends in 3 weeks" status=open'
keep med 'cairn plan add clinic "$plan" medication drug=sertraline dose="50 mg" frequency=daily status=active'
say "(the laptop and the hospital are on this patient's care team: only then may they hold the plan)"
keep m1 'cairn plan add clinic "$plan" member person_key=$laptop name="outreach worker" role=outreach-worker'
keep m2 'cairn plan add clinic "$plan" member person_key=$hospital name="ward psychiatrist" role=prescriber'

step "A bundle carries the plan to the laptop and the hospital"
say "(sync over the network comes in a later issue; until then changes travel as"
say " bundle files, sealed to the receiving node's key, checked change by change)"
carry clinic laptop
carry clinic hospital

step "Offline, each site edits the same plan"
run 'cairn plan add laptop "$plan" checkin kind=outreach adherence=partial phq9=14 time=$(date +%s%3N)'
run 'cairn plan add laptop "$plan" safety_item section=coping text="call my sister; walk by the river"'
say "(an outreach worker may not change a medication: every node refuses it)"
fails 'cairn plan set laptop "$plan" medication:$med dose="25 mg"'
run 'cairn plan set hospital "$plan" medication:$med dose="75 mg"'
run 'cairn plan set clinic "$plan" medication:$med dose="100 mg"'

step "Back online, each site syncs with the clinic (the sync protocol, run in process)"
say "(Noise handshake bound to the organisation, roster checks, reconciliation of"
say " plan fingerprints, changes through ingest; over loopback once the network service lands)"
run 'cairn sync laptop clinic'
run 'cairn sync hospital clinic'
run 'cairn sync clinic laptop'

step "The converged plan: the same digest on all three nodes"
run 'cairn plan show clinic "$plan"'
run 'cairn plan show laptop "$plan" | head -1'
run 'cairn plan show hospital "$plan" | head -1'

step "The concurrent dose change is surfaced as a conflict, not silently overwritten"
run 'cairn conflicts hospital "$plan"'

step "The clinic resolves it: a signed change that has seen both values"
run 'cairn plan set clinic "$plan" medication:$med dose="75 mg"'
run 'cairn sync clinic laptop'
run 'cairn sync clinic hospital'
for node in clinic laptop hospital; do run "cairn conflicts $node \"\$plan\""; done
for node in clinic laptop hospital; do run "cairn plan show $node \"\$plan\" | head -1"; done

step "What a stolen disk or a lost USB stick shows: the patient's name is in no file"
run 'grep -rc Lindqvist clinic laptop hospital *.bundle || true'

step "A wrong passphrase is refused, and nothing is changed"
fails 'CAIRN_PASSPHRASE=guess cairn status clinic'
