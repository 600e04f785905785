"""Test signals: short synthetic two-"speaker" mixtures for the families' learning tests."""

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


def voice_and_noise(T: int = 4000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5 s at 8 kHz: a harmonic 'voice' (f0 140 Hz, 10 harmonics, 4 Hz AM) and noise
    band-limited to 2-3.5 kHz (3 Hz AM). Returns ``(mixture [1, T], sources [1, 2, T])``."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(T) / SR
    voice = sum(torch.sin(2 * math.pi * k * 140 * t + k) / k for k in range(1, 11))
    voice = voice * (0.6 + 0.4 * torch.sin(2 * math.pi * 4 * t))
    spec = torch.fft.rfft(torch.randn(T, generator=g))
    f = torch.fft.rfftfreq(T, 1 / SR)
    spec[(f < 2000) | (f > 3500)] = 0
    noise = torch.fft.irfft(spec, T) * (0.6 + 0.4 * torch.cos(2 * math.pi * 3 * t))
    sources = 0.1 * torch.stack([voice / voice.std(), noise / noise.std()]).unsqueeze(0)
    return sources.sum(1), sources
