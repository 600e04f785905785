"""``sweep oracle``: compute the oracle-mask reference rows and print them (dB)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sweep.oracle import ensure_oracle


def run_oracle(args: argparse.Namespace) -> int:
    """Score the oracle masks on the spec's (or ``--data``'s) test conditions; store the rows."""
    from sweep.launch import _stage_printer, data_root_for
    from sweep.store import Store

    if args.spec is not None:
        from sweep.spec import load_spec

        spec = load_spec(args.spec)
        root, n_src = data_root_for(spec, sys.stderr), spec.n_src
        rate, cap = spec.dataset.sample_rate, spec.train.max_eval_utterances
    else:
        root = Path(args.data).expanduser()
        if not root.is_dir():
            raise FileNotFoundError(f"--data {root} is not a folder")
        n_src, rate, cap = args.n_src, args.sample_rate, args.max_utterances
    store = Store(args.storage)
    rows = ensure_oracle(store, root, n_src, rate, cap, force=True, progress=_stage_printer(sys.stderr))
    for r in rows or []:
        print(f"{r['condition']:<7} {r['mask']:<5} SI-SNRi {r['si_snri']:6.2f} ± {r['si_snri_ci'] or 0:.2f}  "
              f"SDRi {r['sdri']:6.2f} ± {r['sdri_ci'] or 0:.2f}  SIR {r['sir']:6.2f}  SAR {r['sar']:6.2f}  "
              f"(n={r['n_utterances']})")
    return 0
