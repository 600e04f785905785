#!/usr/bin/env bash
# The GPU suite: one run prints
#   (a) training mixtures/s of our Conv-TasNet (paper preset) and torchaudio's ConvTasNet, bf16, eager
#       and torch.compile'd, batch 8 x 4 s (benchmarks/train_throughput.py);
#   (b) throughput of 1, 2, 4, 8 small trials packed on one GPU through the real harness
#       (benchmarks/gpu_suite.py packing: `sweep launch`, resources.gpu = 1/k);
#   (c) test-set scoring time per mixture on the GPU and on the CPU (benchmarks/gpu_suite.py scoring).
# Target: under 8 minutes in all on one H200 (the last line says how long it took).
#
#   bash benchmarks/gpu_suite.sh --data CORPUS [--wheels DIR ...]  # on the GPU machine
#   bash benchmarks/gpu_suite.sh --dry-run [--data CORPUS]       # here, on the CPU: tiny sizes, plumbing only
#
# CORPUS is a wsj0-2mix style folder (tr, cv, tt, tt_closed); the GPU machine cannot synthesise the
# embedded corpus (no espeak-ng there), so build it here and carry it:
#   sweep data make --root gpu/corpus --n-train 64 --n-valid 8 --n-test 20
# What a bare GPU machine lacks (it has torch, torchaudio, numpy, scipy, pandas, pyyaml; not ray, optuna,
# sqlalchemy, alembic, plotly, soundfile) is installed from the wheels in the --wheels folders (default:
# gpu/wheels*; benchmarks/gpu_prepare.sh downloads them and splits a wheel over the carry limit into
# NAME.whl.part-* pieces, joined again here). This repository is installed in editable mode when
# `import sweep.models` fails. Nothing is fetched from the network.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY=0; DATA=""; WHEELS=(); WORK=""; BUDGET_S=480
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --data) DATA="$2"; shift ;;
    --wheels) WHEELS+=("$2"); shift ;;
    --work) WORK="$2"; shift ;;
    *) echo "gpu_suite: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"
else PY=python3; fi
WORK="${WORK:-$(mktemp -d /tmp/gpu-suite-XXXXXX)}"
mkdir -p "$WORK"
export PYTHONUNBUFFERED=1
START=$SECONDS
say() { echo "[gpu_suite $((SECONDS - START))s] $*"; }

missing_modules() {  # the imports the harness needs that this Python lacks
  "$PY" - <<'EOF'
import importlib.util
need = ["torch", "torchaudio", "numpy", "scipy", "pandas", "yaml", "ray", "optuna", "sqlalchemy", "alembic",
        "plotly", "soundfile"]
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
}

install_missing() {
  local missing; missing="$(missing_modules)"
  if [ -z "$missing" ]; then say "dependencies: all present ($("$PY" -c 'import ray, optuna, torch; print("torch", torch.__version__, "ray", ray.__version__, "optuna", optuna.__version__)'))"; return; fi
  [ ${#WHEELS[@]} -gt 0 ] || WHEELS=("$REPO"/gpu/wheels*)
  say "dependencies missing: $missing; installing from ${WHEELS[*]}"
  local dir joined="$WORK/wheels"; mkdir -p "$joined"
  for dir in "${WHEELS[@]}"; do
    [ -d "$dir" ] || { echo "gpu_suite: no wheel folder $dir (benchmarks/gpu_prepare.sh makes them)" >&2; exit 2; }
    cp "$dir"/*.whl "$joined"/ 2>/dev/null || true
  done
  local part  # wheels split to fit the carry limit: the pieces, in suffix order, from every folder
  for part in $(for dir in "${WHEELS[@]}"; do ls "$dir"/*.whl.part-* 2>/dev/null || true; done \
                | awk -F/ '{print $NF "\t" $0}' | sort | cut -f2); do
    local base; base="$(basename "$part")"; cat "$part" >> "$joined/${base%.part-*}"
  done
  local site="$WORK/site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$joined"/*.whl
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
  missing="$(missing_modules)"
  [ -z "$missing" ] || { echo "gpu_suite: still missing after the install: $missing" >&2; exit 2; }
}

install_sweep() {  # the harness itself, when this Python cannot import it yet
  if (cd "$WORK" && "$PY" -c "import sweep.models" 2>/dev/null); then return; fi
  say "installing this repository (editable, no dependencies)"
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e "$REPO"
}

install_missing
install_sweep

if [ "$DRY" = 1 ]; then
  if [ -z "$DATA" ]; then
    DATA="$WORK/corpus"
    say "building a tiny corpus in $DATA"
    (cd "$WORK" && "$PY" -m sweep data make --root "$DATA" --seed 3 --n-train 24 --n-valid 4 --n-test 4 >/dev/null)
  fi
  TRAIN_ARGS=(--families convtasnet --preset cpu --batch 2 --seconds 0.5 --steps 1 --threads 1)
  PACK_ARGS=(--counts 1 2 --epochs 1 --utterances 1 --dry-run)
  SCORE_ARGS=(--utterances 1 --dry-run)
else
  [ -n "$DATA" ] || { echo "gpu_suite: --data CORPUS is required on the GPU (see the header)" >&2; exit 2; }
  "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_suite: no CUDA device (use --dry-run on a CPU)')"
  TRAIN_ARGS=(--families convtasnet --preset paper --batch 8 --seconds 4 --compile)
  PACK_ARGS=(--counts 1 2 4 8)
  SCORE_ARGS=(--utterances 20)
fi
DATA="$(cd "$DATA" && pwd)"

say "(a) training throughput: ${TRAIN_ARGS[*]}"
"$PY" "$REPO/benchmarks/train_throughput.py" "${TRAIN_ARGS[@]}"
say "(b) trials packed on one GPU through sweep launch: ${PACK_ARGS[*]}"
(cd "$WORK" && "$PY" "$REPO/benchmarks/gpu_suite.py" packing --data "$DATA" --work "$WORK/packing" "${PACK_ARGS[@]}")
say "(c) test-set scoring per mixture: ${SCORE_ARGS[*]}"
(cd "$WORK" && "$PY" "$REPO/benchmarks/gpu_suite.py" scoring --data "$DATA" "${SCORE_ARGS[@]}")

TOTAL=$((SECONDS - START))
echo "gpu_suite: total_s=$TOTAL budget_s=$BUDGET_S $([ "$TOTAL" -le "$BUDGET_S" ] && echo within || echo OVER) dry_run=$DRY"
