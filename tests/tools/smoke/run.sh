#!/usr/bin/env bash
# Smoke test of a terraform command, offline: init, plan -out, show -json,
# apply the saved plan (a local-exec provisioner writes a file), then
# plan -detailed-exitcode: 0 with no changes, 2 after changing a variable.
# Also checks that stdin reaches Terraform (terraform console).
#
# Usage: tests/tools/smoke/run.sh [TERRAFORM]   (default: terraform on PATH)
set -euo pipefail

TF=${1:-terraform}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/bosun-tf-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here/main.tf" "$work/"
cd "$work"

fail() { echo "terraform smoke: FAIL: $*" >&2; exit 1; }
step() { echo "terraform smoke: $*"; }

step "version"
"$TF" version

step "init"
"$TF" init -input=false -no-color >init.log 2>&1 || { cat init.log >&2; fail "init"; }

step "plan -out"
"$TF" plan -input=false -no-color -out=plan.tfplan >plan.log 2>&1 || { cat plan.log >&2; fail "plan"; }
[ -s plan.tfplan ] || fail "plan.tfplan not written"

step "show -json"
"$TF" show -json plan.tfplan >plan.json
python3 - plan.json <<'PY' || fail "show -json output"
import json, sys
plan = json.load(open(sys.argv[1]))
changes = plan["resource_changes"]
assert [c["address"] for c in changes] == ["terraform_data.smoke"], changes
assert changes[0]["change"]["actions"] == ["create"], changes[0]["change"]
print("  format_version", plan["format_version"], "terraform_version", plan["terraform_version"])
PY

step "apply plan"
"$TF" apply -input=false -no-color plan.tfplan >apply.log 2>&1 || { cat apply.log >&2; fail "apply"; }
[ -f applied.txt ] || fail "local-exec did not write applied.txt"
[ "$(cat applied.txt)" = "hello from bosun smoke" ] || fail "applied.txt: $(cat applied.txt)"
[ "$("$TF" output -raw message)" = "hello from bosun smoke" ] || fail "output -raw"

step "plan -detailed-exitcode (no changes: 0)"
set +e
"$TF" plan -input=false -no-color -detailed-exitcode >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 0 ] || fail "expected exit 0 with no changes, got $rc"

step "plan -detailed-exitcode with a changed variable (changes: 2)"
set +e
"$TF" plan -input=false -no-color -detailed-exitcode -var 'message=changed' >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || fail "expected exit 2 with changes, got $rc"

step "invalid configuration (error: 1)"
mkdir bad && echo 'resource "terraform_data" {' >bad/main.tf
set +e
"$TF" -chdir=bad validate -no-color >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "expected exit 1 for invalid config, got $rc"

step "stdin (console)"
out=$(echo 'upper("ok")' | "$TF" console)
[ "$out" = '"OK"' ] || fail "console read from stdin gave: $out"

step "OK"
