#!/usr/bin/env bash
# Installs what deploy/check/check.py needs (the deploy tests in tests/deploy.rs run it): a
# venv with the packages of requirements.txt, installed only as pinned wheels whose hashes
# match.  Nothing is downloaded outside PyPI; after this step the check runs offline.
#
#   venv: ${BOSUN_DEPLOY_CHECK_VENV:-/opt/bosun-deploy-check}
#
# Idempotent: a venv whose packages already match requirements.txt is kept.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${BOSUN_DEPLOY_CHECK_VENV:-/opt/bosun-deploy-check}
stamp="$venv/.bosun-requirements.sha256"
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)

log() { echo "[install-deploy-check $(date -u +%H:%M:%S)] $*"; }

if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  log "$venv already has deploy/check/requirements.txt"
  exit 0
fi

# A python3 (3.10 or later, for helm-python-sdk) that can make a venv with pip: the one on
# PATH first, then Debian's with python3-venv (Debian 12 has 3.11).
py=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
    "$candidate" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    py=$(command -v "$candidate")
    break
  fi
done
if [ -z "$py" ]; then
  log "no python3 >= 3.10 with venv; installing Debian's python3-venv"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv
  py=/usr/bin/python3
fi

log "creating venv $venv with $py ($("$py" --version 2>&1))"
rm -rf "$venv"
"$py" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  --only-binary=:all: --require-hashes -r "$here/requirements.txt"
"$venv/bin/python" - <<'PY'
import dockerfile, helm_python, kubernetes_validate
print("helm SDK", helm_python.helm_sdk_version(), "kubernetes-validate", kubernetes_validate.version.__version__)
PY
echo "$want" >"$stamp"
log "done"
