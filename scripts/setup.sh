#!/usr/bin/env bash
# Set up everything the harness needs on a fresh Debian machine: system packages and .venv.
#   bash scripts/setup.sh          # to run studies (espeak-ng, flite for the embedded dataset)
#   bash scripts/setup.sh --test   # also what the tests need (PostgreSQL server, Chromium)
# Idempotent: a second run installs nothing new and takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

want=(espeak-ng flite)
[[ "${1:-}" == "--test" ]] && want+=(postgresql chromium)
missing=()
for p in "${want[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
stamp=.venv/.sweep-installed
sig=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [[ -f $stamp && "$(cat $stamp)" == "$sig" ]]; then exit 0; fi
[[ -x .venv/bin/python ]] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
# torch first, pinned: torchaudio 2.11 loads libc10_cuda.so, so it needs this (CUDA) build of
# torch even on a CPU-only machine; the code runs on the CPU either way.
.venv/bin/python -m pip install -q "torch==2.14.1" "torchaudio==2.11.0"
.venv/bin/python -m pip install -q -e '.[test]'
echo "$sig" > $stamp
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch, ray, optuna; print(f"torch {torch.__version__}, ray {ray.__version__}, optuna {optuna.__version__}")'))" >&2
