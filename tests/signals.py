"""A short synthetic two-"speaker" mixture and the learn-one-mixture loop of the family
contract (tests/test_family_contract.py)."""

from __future__ import annotations

import math

import torch

SR = 8000


def gliding_voice_and_noise(T: int = 4000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5 s at 8 kHz: a gliding harmonic 'voice' (f0 ~140 Hz, 10 harmonics, 4 Hz AM) and
    noise band-limited to 1.5-3 kHz. Returns ``(mixture [1, T], sources [1, 2, T])``."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / SR
    phase = 2 * math.pi * torch.cumsum(140 + 20 * torch.sin(2 * math.pi * 3 * t), 0) / SR
    voice = sum(torch.sin(k * phase) / k for k in range(1, 11)) * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t))
    spec = torch.fft.rfft(torch.randn(T, generator=g))
    f = torch.fft.rfftfreq(T, 1 / SR)
    spec[(f < 1500) | (f > 3000)] = 0
    noise = torch.fft.irfft(spec, n=T)
    sources = 0.1 * torch.stack([voice / voice.std(), noise / noise.std()])[None]
    return sources.sum(1), sources


def train_on_one_mixture(model: torch.nn.Module, mixture: torch.Tensor, sources: torch.Tensor, lr: float,
                         max_steps: int, every: int, target_db: float | None = None) -> tuple[float, int]:
    """Adam on the model's own training loss for one mixture; measures SI-SNRi (dB) every
    ``every`` steps and stops once it exceeds ``target_db``. Returns (best SI-SNRi, steps run)."""
    from sweep.scoring.metrics import pit_si_snri_torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    best, step = -math.inf, 0
    for step in range(1, max_steps + 1):
        opt.zero_grad()
        model.training_loss(mixture, sources).backward()
        opt.step()
        if step % every == 0:
            with torch.no_grad():
                best = max(best, pit_si_snri_torch(model(mixture), sources, mixture).item())
            if target_db is not None and best > target_db:
                break
    return best, step
