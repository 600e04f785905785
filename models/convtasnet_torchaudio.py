"""``torchaudio.models.ConvTasNet`` as an independent reference for :mod:`models.convtasnet`.

Used by the tests (equal outputs with transferred weights) and ``benchmarks/train_throughput.py``
(the same network in both implementations); no family module imports it, and it does not import
torchaudio itself: callers pass torchaudio's model in.

- :func:`torchaudio_kwargs`: torchaudio's constructor arguments for one of our models;
- :func:`load_torchaudio_weights`: copy a torchaudio model's weights into ours, key for key.

Only what torchaudio can express converts: non-causal, gLN, ``Sc == B``, sigmoid or ReLU masks.
"""

from __future__ import annotations

from torch import nn

from .convtasnet import ConvTasNet


def torchaudio_kwargs(model: ConvTasNet) -> dict:
    """Constructor arguments of ``torchaudio.models.ConvTasNet`` describing the same network.

    Raises:
        ValueError: a configuration torchaudio cannot express (causal, cLN/BN, ``Sc != B``,
            softmax masks).
    """
    tcn, head = model.masker.tcn, model.masker.head
    first = tcn.conv_layers[0]
    B, H = first.conv_layers[0].in_channels, first.conv_layers[0].out_channels
    Sc = first.skip_out.out_channels
    problems = [
        msg for bad, msg in (
            (tcn.causal, "causal"),
            (tcn.norm != "gLN", f"norm={tcn.norm!r}"),
            (Sc != B, f"Sc={Sc} != B={B}"),
            (head.activation not in ("sigmoid", "relu"), f"activation={head.activation!r}"),
        ) if bad
    ]
    if problems:
        raise ValueError(f"torchaudio's ConvTasNet (non-causal, gLN, Sc == B, sigmoid/relu) cannot express {problems}")
    n_blocks = len(tcn.conv_layers)
    X = next((i for i, blk in enumerate(tcn.conv_layers) if i and blk.conv_layers[3].conv.dilation[0] == 1), n_blocks)
    return {
        "num_sources": model.n_src,
        "enc_kernel_size": model.kernel_size,
        "enc_num_feats": model.N,
        "msk_kernel_size": first.conv_layers[3].conv.kernel_size[0],
        "msk_num_feats": B,
        "msk_num_hidden_feats": H,
        "msk_num_layers": X,
        "msk_num_stacks": n_blocks // X,
        "msk_activate": head.activation,
    }


def _our_key(key: str) -> str:
    """torchaudio ``ConvTasNet`` state-dict key -> ours."""
    if key.startswith(("encoder.", "decoder.")):
        return key
    if not key.startswith("mask_generator."):
        raise KeyError(f"unexpected torchaudio ConvTasNet key {key!r}")
    key = key[len("mask_generator."):]
    for theirs, ours in (("output_prelu.", "head.prelu."), ("output_conv.", "head.conv.")):
        if key.startswith(theirs):
            return "masker." + ours + key[len(theirs):]
    parts = key.split(".")
    # conv_layers.<i>.conv_layers.3.<p>: the depthwise conv is wrapped with its padding in ours.
    if parts[0] == "conv_layers" and parts[2:4] == ["conv_layers", "3"]:
        parts.insert(4, "conv")
    return "masker.tcn." + ".".join(parts)


def load_torchaudio_weights(ours: ConvTasNet, theirs: nn.Module) -> ConvTasNet:
    """Copy the weights of a ``torchaudio.models.ConvTasNet`` into ``ours`` (in place).

    Args:
        ours: a non-causal gLN model with ``Sc == B`` and sigmoid/relu masks.
        theirs: the torchaudio model, e.g. ``ConvTasNet(**torchaudio_kwargs(ours))``.

    Returns:
        ``ours``.

    Raises:
        ValueError: the two configurations differ (checked on the constructor arguments and
            again by a strict ``load_state_dict``: every key and shape must match).
    """
    expected = torchaudio_kwargs(ours)
    got = {"num_sources": theirs.num_sources, "enc_kernel_size": theirs.enc_kernel_size,
           "enc_num_feats": theirs.enc_num_feats,
           "msk_activate": "sigmoid" if isinstance(theirs.mask_generator.mask_activate, nn.Sigmoid) else "relu"}
    diff = {k: (expected[k], v) for k, v in got.items() if expected[k] != v}
    if diff:
        raise ValueError(f"configurations differ (ours, theirs): {diff}")
    mapped = {_our_key(k): v for k, v in theirs.state_dict().items()}
    try:
        ours.load_state_dict(mapped, strict=True)
    except RuntimeError as err:
        raise ValueError(f"torchaudio weights do not fit this model: {err}") from None
    return ours
