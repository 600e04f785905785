"""Is dynamic mixing fast enough? Mixtures/s made on the fly from FLAC vs what training eats.

Builds a small LibriSpeech-layout corpus (FLAC at 16 kHz, ~10 s files made of synthesised
sentences from the embedded generator), then measures on this machine:

* **dynamic mixing**: ``DynamicMixDataset`` batches (2 speakers, 2 s crops, resampled 16 -> 8
  kHz on load, active-level normalisation, random relative levels), decoded from FLAC every
  time (no cache), first in the trial's own process (as ``sweep.worker.trial`` does: one core) and then
  with 2 DataLoader workers (2 cores);
* **training**: the default uPIT study's model (search_spaces/upit.yaml: BLSTM 2 x 128, 8 kHz,
  batch 16 x 2 s, Adam) forward + backward + step with 1 torch thread, as one trial runs.

The last line is ``loader_per_core=<x> train_per_core=<y> ratio=<x/y>``; the loader is not the
bottleneck when the ratio is at least 2 (each trial has one core for both).

    .venv/bin/python benchmarks/data_throughput.py --batches 20
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, uninstalled

from sweep import models  # noqa: E402
from sweep.audio import audio_info, resample  # noqa: E402
from sweep.data import synth  # noqa: E402
from sweep.data.dynamic import DynamicMixDataset  # noqa: E402
from sweep.data.speakers import Utterance, scan_speakers  # noqa: E402

RATE, FILE_RATE, SEGMENT_S, BATCH = 8000, 16000, 2.0, 16


def build_corpus(root: Path, n_speakers: int, files_per_speaker: int) -> list[Utterance]:
    """``root/SPK/1/SPK-1-NNNN.flac``: each file three synthesised sentences (~10 s) at 16 kHz."""
    from concurrent.futures import ThreadPoolExecutor

    speakers = synth.make_speakers(0)[:n_speakers]
    words, rng = synth.load_words(), np.random.default_rng(0)
    jobs = [(s, f"{s.id}_{i}_{j}", synth.make_sentence(rng, words), root)
            for s in speakers for i in range(files_per_speaker) for j in range(3)]
    root.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        xs = list(pool.map(synth._synthesise, jobs))
    for k, s in enumerate(speakers):
        for i in range(files_per_speaker):
            parts = xs[(k * files_per_speaker + i) * 3:(k * files_per_speaker + i + 1) * 3]
            y = np.clip(resample(np.concatenate(parts), synth.SAMPLE_RATE, FILE_RATE), -1, 1)
            (root / s.id / "1").mkdir(parents=True, exist_ok=True)
            sf.write(str(root / s.id / "1" / f"{s.id}-1-{i:04d}.flac"), y, FILE_RATE, subtype="PCM_16")
    out = []
    for u in scan_speakers(root):
        rate, _, frames = audio_info(u.path)
        out.append(Utterance(u.path, u.speaker, frames, rate))
    return out


def loader_rate(pool: list[Utterance], batches: int, workers: int) -> float:
    ds = DynamicMixDataset(pool, 2, int(SEGMENT_S * RATE), RATE, n_items=BATCH * batches, seed=0, cache=False)
    loader = DataLoader(ds, batch_size=BATCH, num_workers=workers)
    t0 = time.perf_counter()
    n = sum(mix.shape[0] for mix, _, _ in loader)
    return n / (time.perf_counter() - t0)


def train_rate(batches: int) -> tuple[float, int]:
    model = models.build("upit", {"rnn_type": "blstm", "num_layers": 2, "hidden_size": 128, "mask_type": "PSM",
                                  "activation": "softmax"}, n_src=2, sample_rate=RATE)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    mix_src = torch.randn(BATCH, 2, int(SEGMENT_S * RATE), generator=gen) * 0.05

    def step() -> None:
        loss = model.training_loss(mix_src.sum(1), mix_src)
        opt.zero_grad()
        loss.backward()
        opt.step()

    step()  # warm-up (allocations, first-call overheads)
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    return BATCH * batches / (time.perf_counter() - t0), model.param_count()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=20, help="batches of 16 for each measurement")
    p.add_argument("--train-batches", type=int, default=5)
    p.add_argument("--speakers", type=int, default=10)
    p.add_argument("--files", type=int, default=4, help="~10 s FLAC files per speaker")
    args = p.parse_args()
    torch.set_num_threads(1)  # one trial = one core (resources: {cpu: 1})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pool = build_corpus(Path(tmp) / "LibriSpeech", args.speakers, args.files)
        hours = sum(u.frames for u in pool) / FILE_RATE / 3600
        print(f"corpus: {len(pool)} FLAC files at {FILE_RATE} Hz, {len(pool) // args.files} speakers, "
              f"{hours * 60:.1f} min (built in {time.perf_counter() - t0:.1f} s)")
        one = loader_rate(pool, args.batches, workers=0)
        print(f"dynamic mixing, in the trial process (1 core): {one:7.1f} mixtures/s "
              f"(2 x {SEGMENT_S:g} s crops, FLAC 16 kHz -> {RATE} Hz)")
        two = loader_rate(pool, 4 * args.batches, workers=2)  # longer: amortise worker start-up
        print(f"dynamic mixing, 2 DataLoader workers (2 cores): {two:7.1f} mixtures/s")
    train, params = train_rate(args.train_batches)
    print(f"training, default uPIT (BLSTM 2 x 128, {params:,} parameters, batch {BATCH} x {SEGMENT_S:g} s, "
          f"1 thread): {train:7.1f} mixtures/s per core, {2 * train:7.1f} on 2 cores (2 trials)")
    ratio = one / train
    verdict = "not the bottleneck" if ratio >= 2 else "TOO SLOW: the loader would stall training"
    print(f"loader / training per core: {ratio:.1f}x ({verdict}; the target is at least 2x)")
    print(f"loader_per_core={one:.1f} train_per_core={train:.1f} ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
