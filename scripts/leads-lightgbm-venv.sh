#!/usr/bin/env bash
# Reference only: a Python venv with LightGBM for `aicall leads bench` (aicall itself does not
# depend on it). Idempotent; installs into .setup/leads-venv (gitignored). About 60 MB.
set -euo pipefail
venv=.setup/leads-venv
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import lightgbm, numpy' 2>/dev/null; then
  echo "leads-lightgbm: $venv ready"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check 'lightgbm>=4,<5' numpy
"$venv/bin/python" -c 'import lightgbm; print("leads-lightgbm: lightgbm", lightgbm.__version__)'
