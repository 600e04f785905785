"""Training throughput of every family, in mixtures per second, with our Conv-TasNet beside
torchaudio's in the same run.

    .venv/bin/python benchmarks/train_throughput.py                     # CPU: each family's `cpu` preset
    .venv/bin/python benchmarks/train_throughput.py --preset paper      # GPU: the papers' sizes
    .venv/bin/python benchmarks/train_throughput.py --families convtasnet --compile

One step = forward + the family's training loss + backward + Adam on a batch of random
mixtures of ``--seconds`` at ``--sample-rate``. On CUDA the step runs under bf16 autocast
(as the trainer does) unless ``--fp32``; ``--compile`` adds ``torch.compile`` and reports it
separately. Warm-up steps are not timed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sweep import models  # noqa: E402


def _step_fn(model: torch.nn.Module, loss_fn, opt: torch.optim.Optimizer, device: torch.device, amp: bool):
    def step(mix: torch.Tensor, src: torch.Tensor) -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(mix, src)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def measure(model: torch.nn.Module, loss_fn, device: torch.device, batch: int, samples: int, n_src: int,
            steps: int, warmup: int, amp: bool) -> float:
    """Training mixtures per second."""
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    step = _step_fn(model, loss_fn, opt, device, amp)
    g = torch.Generator(device="cpu").manual_seed(0)
    src = torch.randn(batch, n_src, samples, generator=g).to(device)
    mix = src.sum(1)
    for _ in range(warmup):
        step(mix, src)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(mix, src)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", nargs="*", default=None, help="default: all registered")
    ap.add_argument("--preset", default=None, help="default: cpu on CPU, paper on CUDA")
    ap.add_argument("--batch", type=int, default=None, help="default: 4 on CPU, 8 on CUDA")
    ap.add_argument("--seconds", type=float, default=None, help="mixture length; default 2 on CPU, 4 on CUDA")
    ap.add_argument("--sample-rate", type=int, default=8000)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast on CUDA")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    args = ap.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(args.threads)
    gpu = device.type == "cuda"
    preset = args.preset or ("paper" if gpu else "cpu")
    batch = args.batch or (8 if gpu else 4)
    seconds = args.seconds or (4.0 if gpu else 2.0)
    steps = args.steps or (20 if gpu else 5)
    samples = int(seconds * args.sample_rate)
    amp = gpu and not args.fp32
    where = torch.cuda.get_device_name() if gpu else f"CPU, {args.threads} threads"
    print(f"device: {where}; preset {preset}; batch {batch} x {seconds:g} s at {args.sample_rate} Hz; "
          f"{'bf16 autocast' if amp else 'fp32'}; {steps} timed steps", flush=True)
    print(f"{'family':<24}{'params':>12}{'eager mix/s':>14}" + (f"{'compiled mix/s':>16}" if args.compile else ""))

    def row(name: str, model: torch.nn.Module, loss_fn) -> None:
        n = sum(p.numel() for p in model.parameters() if p.requires_grad)
        eager = measure(model, loss_fn, device, batch, samples, 2, steps, 2, amp)
        line = f"{name:<24}{n / 1e6:>11.2f}M{eager:>14.1f}"
        if args.compile:
            model.compile()  # in place: the loss's own self(...) calls go through the compiled graph
            line += f"{measure(model, loss_fn, device, batch, samples, 2, steps, 3, amp):>16.1f}"
        print(line, flush=True)

    for name in args.families or sorted(models.FAMILIES):
        fam = models.FAMILIES[name]
        if preset not in fam.presets:
            print(f"{name:<24}{'(no ' + preset + ' preset)':>26}")
            continue
        model = models.build(name, fam.presets[preset], n_src=2, sample_rate=args.sample_rate)
        row(f"{name}:{preset}", model, model.training_loss)
        if name == "convtasnet":
            from sweep.models.blocks.losses import pit_neg_si_snr

            from torchaudio.models import ConvTasNet as TorchaudioConvTasNet

            from sweep.models.convtasnet_torchaudio import torchaudio_kwargs

            ref = TorchaudioConvTasNet(**torchaudio_kwargs(model))
            row("torchaudio ConvTasNet", ref, lambda m, s, ref=ref: pit_neg_si_snr(ref(m.unsqueeze(1)), s)[0])


if __name__ == "__main__":
    main()
