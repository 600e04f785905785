#!/usr/bin/env bash
# Prepares what benchmarks/gpu_suite.sh needs on a GPU machine that has no network: run it HERE
# (a machine that reaches PyPI and has espeak-ng), then carry gpu/ there.
#
#   bash benchmarks/gpu_prepare.sh [--python-version 3.12]
#
# It writes (all under gpu/, which git ignores):
#   gpu/wheels1/, gpu/wheels2/  the wheels a bare GPU image lacks (ray, optuna, sqlalchemy, alembic, plotly,
#                               soundfile and their missing needs), at the versions of this .venv, for that
#                               machine's Python; a wheel over 40 MiB is split into NAME.whl.part-aa, -ab, ...
#                               (ray's is 76 MiB), the first piece in wheels1, the rest in wheels2;
#   gpu/corpus/                 a small corpus in wsj0-2mix layout (64 / 8 / 20 + 20 mixtures, seed 3, 15 MB).
# One call may carry 64 MiB: carry gpu/wheels1 and gpu/corpus (about 56 MB) in a first call (command `true`),
# then gpu/wheels2 (about 56 MB) in the next, while the machine is still warm (what the first call carried
# stays there), with the command
#   bash benchmarks/gpu_suite.sh --data gpu/corpus --wheels gpu/wheels1 --wheels gpu/wheels2
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYVER=3.12
while [ $# -gt 0 ]; do
  case "$1" in
    --python-version) PYVER="$2"; shift ;;
    *) echo "gpu_prepare: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
PY="${PYTHON:-$REPO/.venv/bin/python}"
OUT="$REPO/gpu"
DL="$OUT/download"
mkdir -p "$DL" "$OUT/wheels1" "$OUT/wheels2"

# What the GPU image (device/KINDS.md) lacks, pinned to this .venv's versions.
NAMES="ray optuna colorlog alembic mako sqlalchemy plotly soundfile cffi pycparser jsonschema
jsonschema-specifications referencing rpds-py tensorboardX pydantic pydantic-core annotated-types
typing-inspection setuptools"
PINS=$("$PY" - $NAMES <<'EOF'
import sys
from importlib.metadata import version
print(" ".join(f"{n}=={version(n)}" for n in sys.argv[1:]))
EOF
)
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$DL" $PINS

rm -f "$OUT"/wheels1/* "$OUT"/wheels2/*
for whl in "$DL"/*.whl; do
  name="$(basename "$whl")"
  if [ "$(stat -c %s "$whl")" -gt $((40 * 1024 * 1024)) ]; then
    split -b 40m -a 2 "$whl" "$OUT/wheels1/$name.part-"
    for part in "$OUT/wheels1/$name".part-a[b-z]; do [ -e "$part" ] && mv "$part" "$OUT/wheels2/"; done
  else
    cp "$whl" "$OUT/wheels2/"
  fi
done

if [ ! -f "$OUT/corpus/manifest.json" ]; then
  "$PY" -m sweep data make --root "$OUT/corpus" --seed 3 --n-train 64 --n-valid 8 --n-test 20 >/dev/null
fi
du -sh "$OUT/wheels1" "$OUT/wheels2" "$OUT/corpus"
