#!/usr/bin/env bash
# The main job from a fresh clone: set up, build the embedded dataset (cached), run the uPIT
# study of search_spaces/upit.yaml and render reports/upit.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/sweep launch search_spaces/upit.yaml --report reports/upit.html "$@"
