"""The README's `sweep separate` example, measured: a study's best trial separates one of its own
test mixtures through the CLI, and the files it wrote are scored against the references.

    .venv/bin/python benchmarks/separate_example.py upit [--storage sqlite:///sweep.db] [--condition closed] [--index 0]

Prints the command it ran, the files written, and the SI-SNRi (dB) of each written file against
its reference (best assignment), then a last line ``si_snri_db=<mean> files=<n>``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweep.audio import read_wav  # noqa: E402
from sweep.data.wsj0mix import test_conditions  # noqa: E402
from sweep.scoring.metrics import best_permutation, pairwise_si_snr, si_snr  # noqa: E402
from sweep.store import Store, default_storage  # noqa: E402

SWEEP = str(Path(sys.executable).with_name("sweep"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study")
    ap.add_argument("--storage", default=default_storage())
    ap.add_argument("--condition", default="closed", choices=("closed", "open"))
    ap.add_argument("--index", type=int, default=0, help="which mixture of the condition (sorted by name)")
    args = ap.parse_args()
    row = Store(args.storage, write=False).study(args.study)
    folder = test_conditions(row.data_root)[args.condition]
    mix_path = sorted((folder / "mix").glob("*.wav"))[args.index]
    out = Path(tempfile.mkdtemp(prefix="separate-example-"))
    cmd = [SWEEP, "separate", args.study, "--best", str(mix_path), "-o", str(out), "--storage", args.storage]
    print("$ " + " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)
    mix, _ = read_wav(mix_path)
    refs = np.stack([read_wav(folder / f"s{k}" / mix_path.name)[0] for k in (1, 2)])
    written = sorted(out.glob(f"{mix_path.stem}_s*.wav"))
    est = np.stack([read_wav(p)[0] for p in written])
    perm = best_permutation(pairwise_si_snr(est, refs))
    gains = si_snr(est[perm], refs) - si_snr(np.stack([mix, mix]), refs)
    for k, (p, g) in enumerate(zip([written[j] for j in perm], gains), start=1):
        print(f"{p.name} vs s{k}: SI-SNRi {g:.2f} dB")
    print(f"si_snri_db={gains.mean():.2f} files={len(written)}")


if __name__ == "__main__":
    main()
