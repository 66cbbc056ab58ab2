#!/usr/bin/env bash
# demo.sh: install what is missing, build, and show a node at work: create an
# encrypted replica, write a care plan, read it back, and show that nothing
# readable reached the disk.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh release
bin=$PWD/build/release/cairn
rm -rf build/demo
mkdir -p build/demo
cd build/demo
# Scripts pass the passphrase in the environment; people are asked for it.
export CAIRN_PASSPHRASE='clinic demo passphrase - not for real use'

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
# Show each command as a user would type it, then run it.
cairn() { printf '$ cairn %s\n' "$*"; "$bin" "$@"; }

step "Create the clinic's node (Ed25519 identity, data key wrapped by Argon2id)"
cairn init "clinic" --kdf interactive

step "Write a care plan under a random plan id"
plan="plan/$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
cat >"careplan.json" <<'JSON'
{
  "patient": {"name": "Amara Lindqvist-Obi", "dob": "1987-03-14"},
  "status": "active",
  "care_manager": "R. Haddad (social worker)",
  "needs": [
    {"domain": "housing", "description": "temporary accommodation ends in 3 weeks"},
    {"domain": "clinical", "description": "low mood, PHQ-9 total 17"}
  ],
  "goals": [{"description": "attend weekly CBT sessions", "target": "2026-12-31"}],
  "medications": [{"drug": "sertraline", "dose": "50 mg", "frequency": "daily",
                   "prescriber": "Dr. Y. Mensah"}],
  "safety_plan": {"crisis_line": "988", "people": ["sister (Ebele)"]}
}
JSON
cairn put "clinic" "$plan" --file "careplan.json"

step "Read it back"
cairn get "clinic" "$plan"

step "Node status"
cairn status "clinic"

step "What a stolen disk shows: the patient's name appears in no file"
printf '$ grep -rc Lindqvist clinic\n'
grep -rc "Lindqvist" "clinic" || true

step "A wrong passphrase is refused, and nothing is changed"
printf '$ CAIRN_PASSPHRASE=guess cairn status clinic\n'
CAIRN_PASSPHRASE=guess "$bin" status clinic 2>&1 || echo "(exit status $?)"
