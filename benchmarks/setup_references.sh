#!/usr/bin/env bash
# Builds the reference FFM implementations into benchmarks/.envs/ (never run by `make test`):
#   xlearn  xlearn==0.40a1 from its sdist (C++; needs cmake), in its own venv
#   libffm  pylibffm==0.4.1, which needs numpy<2 and scipy<1.14 (under numpy 2 it
#           silently predicts 0.5), in its own venv
# Idempotent: an environment that imports is left as it is.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
mkdir -p .envs

if ! .envs/xlearn/bin/python -c "import xlearn" 2>/dev/null; then
  rm -rf .envs/xlearn
  "$PYTHON" -m venv .envs/xlearn
  .envs/xlearn/bin/pip install --quiet --upgrade pip setuptools wheel
  .envs/xlearn/bin/pip install --quiet "numpy<2" "scipy<1.14" pandas psutil
  # xLearn aborts at import unless USER is set.
  USER=${USER:-stagebook} .envs/xlearn/bin/pip install --quiet --no-build-isolation xlearn==0.40a1
fi

if ! .envs/libffm/bin/python -c "import pylibffm" 2>/dev/null; then
  rm -rf .envs/libffm
  "$PYTHON" -m venv .envs/libffm
  .envs/libffm/bin/pip install --quiet --upgrade pip setuptools wheel
  .envs/libffm/bin/pip install --quiet "numpy<2" "scipy<1.14" pandas psutil
  .envs/libffm/bin/pip install --quiet --no-build-isolation pylibffm==0.4.1
fi
USER=${USER:-stagebook} .envs/xlearn/bin/python -c "import xlearn; print('xlearn ok')"
.envs/libffm/bin/python -c "import pylibffm; print('libffm ok')"
