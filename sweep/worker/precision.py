"""Which floating-point precision a trial's forward passes run in (``train.precision``).

``auto`` keeps each device's sensible default: bf16 autocast on CUDA (tensor cores, no loss
scaling needed) and float32 on CPU, where bf16 only pays on CPUs with native bf16 instructions
(AVX512-BF16 or AMX); elsewhere the conversions run in software and are expected to make a step
slower than float32 (not measured: this project's CPU has AVX512-BF16). ``bf16`` asks for
autocast on either device, ``fp32`` for none. Weights, optimiser state and the test set's
scores stay float32 whatever is chosen; under autocast, the ops PyTorch's autocast keeps in
float32 on that device (its per-device "fp32" op list) still run in float32.
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch

from sweep.spec import CHOICE_TRAIN_KEYS

PRECISIONS: tuple[str, ...] = CHOICE_TRAIN_KEYS["precision"]
log = logging.getLogger(__name__)


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether oneDNN runs bf16 natively on this CPU (AVX512-BF16 / AMX); False where unknown."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``precision`` on ``device``, or None for plain float32."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISIONS)})")
    if device.type == "cpu" and not cpu_has_native_bf16():
        log.warning("train.precision=bf16 on a CPU without native bf16 (AVX512-BF16 / AMX): "
                    "training is expected to be slower than in float32")
    return torch.bfloat16


def autocast(dtype: torch.dtype | None, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device`` (a no-op context for None)."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)
