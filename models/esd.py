"""ESD: one composable Encoder - Separator - Decoder family, built from the blocks the seven
families use. Its knobs pick each block and size it; a registered family is a named point of
the space (:func:`point`), with the same parameter count and, once its weights are loaded
(:func:`esd_state_dict`), the same output.

    mixture [B, T] --encoder--> features [B, C, K], coefficients [B, C, K]
        --separator--> [B, S*M, K] --mask head--> masks [B, S, C, K]
        --masks ⊙ coefficients, decoder--> [B, S, T]

Blocks (the selector knob and its choices; ``<choice>.<name>`` are that block's own knobs):

- ``encoder``:
    - ``stft``: uPIT's 32 ms / 8 ms sqrt-Hann STFT. Features: per-utterance normalised log
      magnitude (``C = F``, 129 bins at 8 kHz); coefficients: the complex spectrum; decoder:
      inverse STFT with the mixture phase. Trained as uPIT is, on the mask-domain error of
      ``M ⊙ |Y|`` against the ``stft.mask_type`` target (AM / PSM / NPSM), utterance PIT.
    - ``conv``: a learned filterbank, ``Conv1d(1, conv.N, conv.L, hop L/2)``, no bias, ReLU if
      ``conv.relu`` (DPRNN, DPTNet; Conv-TasNet has none), ``L/2`` zeros at both ends if
      ``conv.edge_pad`` (Conv-TasNet's torchaudio framing); features = coefficients; decoder:
      the transposed conv. Trained on uPIT negative SI-SNR, as the TasNet papers are.
- ``separator`` (:mod:`models.blocks.separators`): ``blstm`` (uPIT), ``tcn`` (Conv-TasNet),
  ``dprnn`` (dual-path BLSTM), ``dptnet`` (dual-path transformer), ``uconv`` (SuDoRM-RF's
  U-ConvBlocks). Knob names are the family modules' (``tcn.X``, ``dprnn.K``, ...).
- ``mask_head`` (:mod:`models.blocks.mask_heads`): ``linear`` (Conv-TasNet, uPIT; ``M = C``) or
  ``gated`` (DPRNN, DPTNet; ``M`` = the separator's width, then ``tanh ⊙ sigmoid`` and 1x1 to
  ``C``); ``activation`` for both (:mod:`models.blocks.activations`).

Conditional knobs (:class:`ComposedFamily`): ``<choice>.<name>`` counts only when its selector
picks ``choice``. :meth:`ComposedFamily.resolve` validates it like every key, then drops it, so
a knob of an unchosen block neither changes nor names the model.

Not covered: causal variants, dropout, frame-level PIT, the uPIT-LSTM, and the exact
SepFormer, SuDoRM-RF and TasNet models (their encoders, chunk padding and mask layers differ
from these blocks); ``uconv`` is SuDoRM-RF's separator with these heads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from .base import Separator
from .blocks.activations import ACTIVATIONS
from .blocks.learned_filterbank import LearnedDecoder, LearnedEncoder, default_stride
from .blocks.losses import pit_neg_si_snr
from .blocks.mask_heads import MASK_HEADS, GatedMaskHead, LinearMaskHead
from .blocks.masks import MASK_TYPES, mask_target
from .blocks.pit import utterance_pit_loss
from .blocks.separators import DualPathSeparator, RNNSeparator, TCNSeparator, UConvSeparator
from .blocks.stft import ISTFTDecoder, STFTEncoder, normalised_log_magnitude, stft_params
from .dprnn import dprnn_block
from .dptnet import dpt_block
from . import convtasnet, upit  # noqa: F401  (registered before the named points below)
from .registry import Family, HParam, get_family, register

ENCODERS = ("stft", "conv")
SEPARATORS = ("blstm", "tcn", "dprnn", "dptnet", "uconv")
SELECTORS = ("encoder", "separator", "mask_head")

# -- Encoders and decoders -----------------------------------------------------------------


class ConvEncoder(LearnedEncoder):
    """The learned filterbank on a padded waveform: ``[B, T] -> (w [B, N, K], w)``.

    ``edge_pad``: Conv-TasNet's framing (torchaudio's: the end padded so the hops tile the
    signal, then ``L/2`` zeros at both ends inside the conv); otherwise DPRNN's (frames from
    sample 0, the end padded to fit the last one; :meth:`models.masking.EncoderMaskerDecoder.pad`).
    """

    def __init__(self, N: int, L: int, relu: bool, edge_pad: bool) -> None:
        super().__init__(N, L, relu=relu, padding=default_stride(L) if edge_pad else 0)
        self.edge_pad = edge_pad

    def padded_length(self, t: int) -> int:
        """Samples ``T' >= T`` the framing needs for ``t`` (:meth:`models.convtasnet.ConvTasNet.pad`
        with ``edge_pad``)."""
        if self.edge_pad:
            odd = self.L % 2
            return max(1, odd + math.ceil(max(t - odd, 0) / self.stride) * self.stride)
        frames = max(1, math.ceil((t - self.L) / self.stride) + 1)
        return (frames - 1) * self.stride + self.L

    def forward(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        t = mixture.shape[-1]
        w = super().forward(nn.functional.pad(mixture, (0, self.padded_length(t) - t)).unsqueeze(1))
        return w, w


class ConvDecoder(LearnedDecoder):
    """The transposed conv per source, cut to ``length``: ``[B, S, N, K] -> [B, S, length]``."""

    def __init__(self, N: int, L: int, edge_pad: bool) -> None:
        super().__init__(N, L, padding=default_stride(L) if edge_pad else 0)

    def forward(self, masked: Tensor, length: int) -> Tensor:
        B, S = masked.shape[:2]
        return super().forward(masked.reshape(B * S, *masked.shape[2:])).reshape(B, S, -1)[..., :length]


class STFTMagnitudeEncoder(STFTEncoder):
    """uPIT's encoder: ``[B, T] -> (features [B, F, N] real, spectrum [B, F, N] complex)``.

    Features are :func:`~models.blocks.stft.normalised_log_magnitude` (``eps`` in linear STFT
    magnitude units); the STFT is :func:`models.upit.upit_stft`'s, 32 ms / 8 ms sqrt-Hann.
    """

    def __init__(self, sample_rate: int, eps: float = 1e-8) -> None:
        super().__init__(*stft_params(sample_rate))
        self.eps = eps

    def spectrum(self, x: Tensor) -> Tensor:
        """``[..., T] -> [..., F, N]`` complex (sources too, for the training targets)."""
        return super().forward(x)

    def forward(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        spec = self.spectrum(mixture)
        return normalised_log_magnitude(spec, self.eps), spec


# -- The model ------------------------------------------------------------------------------


class ESD(Separator):
    """Encoder, separator, mask head and decoder, composed (the module docstring has the choices).

    Args:
        encoder: ``[B, T] -> (features [B, C, K], coefficients [B, C, K])``.
        separator: ``[B, C, K] -> [B, S*M, K]`` (:mod:`models.blocks.separators`).
        mask_head: ``[B, S*M, K] -> [B, S, C, K]`` (:mod:`models.blocks.mask_heads`).
        decoder: ``(masked coefficients [B, S, C, K], T) -> [B, S, T]``.
        n_src: sources ``S``. sample_rate: Hz.
        mask_type: the STFT encoder's training target (``'AM'``, ``'PSM'``, ``'NPSM'``);
            ``None`` trains on negative SI-SNR.
    """

    def __init__(self, encoder: nn.Module, separator: nn.Module, mask_head: nn.Module, decoder: nn.Module,
                 n_src: int, sample_rate: int, mask_type: str | None = None) -> None:
        super().__init__(n_src, sample_rate)
        self.encoder, self.separator, self.mask_head, self.decoder = encoder, separator, mask_head, decoder
        self.mask_type = mask_type

    def masks(self, mixture: Tensor) -> tuple[Tensor, Tensor]:
        """``[B, T] -> (masks [B, S, C, K], coefficients [B, C, K])``."""
        self._check_mixture(mixture)
        features, coefficients = self.encoder(mixture)  # [B, C, K] each
        return self.mask_head(self.separator(features)), coefficients

    def forward(self, mixture: Tensor) -> Tensor:
        masks, coefficients = self.masks(mixture)  # [B, S, C, K], [B, C, K]
        return self.decoder(masks * coefficients.unsqueeze(1), mixture.shape[-1])  # [B, S, T]

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """uPIT negative SI-SNR (dB), or for ``mask_type`` uPIT's squared error of ``M ⊙ |Y|``."""
        self._check_sources(mixture, sources)
        if self.mask_type is None:
            return pit_neg_si_snr(self(mixture), sources)[0]
        masks, spec = self.masks(mixture)  # [B, S, F, N], [B, F, N]
        target = mask_target(self.mask_type, spec, self.encoder.spectrum(sources))
        return utterance_pit_loss(masks * spec.abs().unsqueeze(1), target)[0]


def _separator(name: str, k: Mapping[str, Any], C: int, out: Callable[[int], int]) -> nn.Module:
    """Separator ``name`` on ``C`` features with its own knobs ``k`` (namespace stripped);
    ``out(width)`` is the output channels for a core of that width."""
    if name == "blstm":
        return RNNSeparator(C, out(2 * k["hidden_size"]), k["hidden_size"], k["num_layers"])
    if name == "tcn":
        return TCNSeparator(C, out(k["Sc"]), k["B"], k["H"], k["P"], k["X"], k["R"], k["Sc"])
    if name == "dprnn":
        blocks = [dprnn_block(k["B"], k["H"], causal=False) for _ in range(k["R"])]
        return DualPathSeparator(C, out(k["B"]), k["B"], blocks, k["K"])
    if name == "dptnet":
        blocks = [dpt_block(k["B"], k["n_heads"], k["H"], causal=False) for _ in range(k["R"])]
        return DualPathSeparator(C, out(k["B"]), k["B"], blocks, k["K"])
    if name == "uconv":
        C_out = k["out_channels"]
        return UConvSeparator(C, out(C_out), C_out, k["in_channels"], k["num_blocks"], k["downsampling_depth"])
    raise ValueError(f"unknown separator {name!r}; known: {list(SEPARATORS)}")


def build_esd(n_src: int = 2, sample_rate: int = 8000, **knobs: Any) -> ESD:
    """An :class:`ESD` from knobs (missing ones take their defaults; see :data:`FAMILY`)."""
    knobs = FAMILY.resolve(knobs)

    def own(block: str) -> dict[str, Any]:
        return {key[len(block) + 1:]: v for key, v in knobs.items() if key.startswith(block + ".")}

    if knobs["encoder"] == "stft":
        encoder: nn.Module = STFTMagnitudeEncoder(sample_rate)
        decoder: nn.Module = ISTFTDecoder(*stft_params(sample_rate))
        C, mask_type = encoder.n_bins, knobs["stft.mask_type"]
    else:
        conv = own("conv")
        encoder, decoder = ConvEncoder(**conv), ConvDecoder(conv["N"], conv["L"], conv["edge_pad"])
        C, mask_type = conv["N"], None
    gated = knobs["mask_head"] == "gated"
    separator = _separator(knobs["separator"], own(knobs["separator"]), C,
                           lambda width: n_src * (width if gated else C))
    head = (GatedMaskHead(n_src, separator.width, C, knobs["activation"]) if gated
            else LinearMaskHead(n_src, C, knobs["activation"]))
    return ESD(encoder, separator, head, decoder, n_src, sample_rate, mask_type)


# -- Conditional knobs ----------------------------------------------------------------------


@dataclass
class ComposedFamily(Family):
    """A :class:`~models.registry.Family` whose knobs are namespaced by block.

    Attributes:
        selectors: ``choice`` hyperparameters that each pick one block (``encoder``, ...). A
            knob named ``<block>.<name>`` belongs to ``block``, which must be a choice of
            exactly one selector; the knob is *active* when that selector's value is ``block``.
            Knobs without a dot are always active.
    """

    selectors: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._selector_of: dict[str, str] = {}  # block -> the selector that picks it
        for sel in self.selectors:
            hp = self.hyperparameters.get(sel)
            if hp is None or hp.kind != "choice":
                raise ValueError(f"family {self.name!r}: selector {sel!r} is not a choice hyperparameter")
            for block in hp.choices:
                if block in self._selector_of:
                    raise ValueError(f"family {self.name!r}: block {block!r} is a choice of two selectors")
                self._selector_of[block] = sel
        for knob in self.hyperparameters:
            if "." in knob and knob.split(".", 1)[0] not in self._selector_of:
                raise ValueError(f"family {self.name!r}: knob {knob!r} names no block of the selectors "
                                 f"{list(self.selectors)} (blocks: {sorted(self._selector_of)})")
        super().__post_init__()

    def condition(self, knob: str) -> tuple[str, str] | None:
        """``(selector, block)``: ``knob`` counts only when ``selector`` is ``block``; ``None``: always."""
        if "." not in knob:
            return None
        block = knob.split(".", 1)[0]
        return self._selector_of[block], block

    def resolve(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Fill defaults and validate every value (of chosen blocks or not), then drop the knobs
        of unchosen blocks: two configurations that differ only there resolve equal.

        Raises:
            ValueError: an unknown key or an invalid value, as :meth:`Family.resolve`.
        """
        full = super().resolve(params)
        return {k: v for k, v in full.items() if (c := self.condition(k)) is None or full[c[0]] == c[1]}


def _knobs() -> dict[str, HParam]:
    """Every knob; a block's own ones document when they count (``[separator: tcn] ...``)."""
    selector_of = {block: "encoder" for block in ENCODERS} | {block: "separator" for block in SEPARATORS}

    def hp(name: str, kind: str, default: Any, doc: str, **kw: Any) -> HParam:
        block = name.split(".", 1)[0] if "." in name else None
        return HParam(name, kind, default, doc=f"[{selector_of[block]}: {block}] {doc}" if block else doc, **kw)

    return {h.name: h for h in (
        hp("encoder", "choice", "conv", "STFT magnitude (uPIT) or learned 1-D conv (TasNet family)", choices=ENCODERS),
        hp("separator", "choice", "tcn", "BLSTM stack, TCN, dual-path RNN, dual-path transformer, U-ConvBlocks",
           choices=SEPARATORS),
        hp("mask_head", "choice", "linear", "projection to S x C masks, or DPRNN's tanh x sigmoid gate",
           choices=MASK_HEADS),
        hp("activation", "choice", "sigmoid", "mask activation (softmax across sources)", choices=ACTIVATIONS),
        hp("stft.mask_type", "choice", "PSM", "uPIT training target: AM, PSM or NPSM", choices=MASK_TYPES),
        hp("conv.N", "int", 512, "encoder filters", low=8, high=1024, log=True),
        hp("conv.L", "int", 16, "filter length in samples (hop L/2)", low=2, high=64, log=True),
        hp("conv.relu", "bool", False, "ReLU after the encoder (DPRNN, DPTNet)"),
        hp("conv.edge_pad", "bool", True, "L/2 zeros at both ends (Conv-TasNet's framing)"),
        hp("blstm.hidden_size", "int", 896, "units per layer and direction", low=8, high=1024, log=True),
        hp("blstm.num_layers", "int", 3, "stacked BLSTM layers", low=1, high=4),
        hp("tcn.B", "int", 128, "bottleneck channels", low=8, high=512, log=True),
        hp("tcn.H", "int", 512, "channels in the conv blocks", low=8, high=1024, log=True),
        hp("tcn.P", "int", 3, "depthwise kernel size", low=2, high=7),
        hp("tcn.X", "int", 8, "conv blocks per repeat (dilation 1..2^(X-1))", low=1, high=10),
        hp("tcn.R", "int", 3, "repeats", low=1, high=6),
        hp("tcn.Sc", "int", 128, "skip-connection channels", low=8, high=512, log=True),
        *(knob for sep in ("dprnn", "dptnet") for knob in (
            hp(f"{sep}.B", "int", 64, "feature dimension inside the blocks", low=8, high=256, log=True),
            hp(f"{sep}.H", "int", 128, "LSTM units per direction", low=8, high=512, log=True),
            hp(f"{sep}.K", "int", 250, "chunk size in frames (hop K/2)", low=2, high=500, log=True),
            hp(f"{sep}.R", "int", 6, "dual-path blocks", low=1, high=12),
        )),
        hp("dptnet.n_heads", "choice", 4, "attention heads (must divide dptnet.B)", choices=(1, 2, 4, 8)),
        hp("uconv.out_channels", "int", 128, "channels C between U-ConvBlocks", low=8, high=512, log=True),
        hp("uconv.in_channels", "int", 512, "channels C_U inside a U-ConvBlock", low=8, high=2048, log=True),
        hp("uconv.num_blocks", "int", 16, "U-ConvBlocks", low=1, high=64),
        hp("uconv.downsampling_depth", "int", 4, "stride-2 downsamplings per block (Q)", low=0, high=8),
    )}

# -- Registered families as named points -------------------------------------------------------


def _conv(p: Mapping[str, Any], relu: bool, edge_pad: bool) -> dict[str, Any]:
    return {"encoder": "conv", "conv.N": p["N"], "conv.L": p["L"], "conv.relu": relu, "conv.edge_pad": edge_pad}


def _own(block: str, p: Mapping[str, Any], names: str) -> dict[str, Any]:
    return {f"{block}.{n}": p[n] for n in names.split()}


# family -> (the values ESD's space requires of its parameters, its parameters -> ESD's knobs)
_POINTS = {
    "convtasnet": ({"norm": "gLN", "causal": False}, lambda p: {
        **_conv(p, relu=False, edge_pad=True), "separator": "tcn", **_own("tcn", p, "B H P X R Sc"),
        "mask_head": "linear", "activation": p["activation"]}),
    "dprnn": ({"causal": False, "dropout": 0.0}, lambda p: {
        **_conv(p, relu=True, edge_pad=False), "separator": "dprnn", **_own("dprnn", p, "B H K R"),
        "mask_head": "gated", "activation": p["activation"]}),
    "dptnet": ({"causal": False, "dropout": 0.0}, lambda p: {
        **_conv(p, relu=True, edge_pad=False), "separator": "dptnet", **_own("dptnet", p, "B H K R n_heads"),
        "mask_head": "gated", "activation": p["activation"]}),
    "upit": ({"rnn_type": "blstm", "dropout": 0.0, "pit": "utterance"}, lambda p: {
        "encoder": "stft", "stft.mask_type": p["mask_type"], "separator": "blstm",
        **_own("blstm", p, "hidden_size num_layers"), "mask_head": "linear", "activation": p["activation"]}),
}

_DUAL_PATH_KEYS = {"encoder.": "encoder.", "decoder.": "decoder.", "masker.in_norm.": "separator.in_norm.",
                   "masker.bottleneck.": "separator.bottleneck.", "masker.blocks.": "separator.blocks.",
                   "masker.first_out.": "separator.out.", "masker.out_tanh.": "mask_head.out_tanh.",
                   "masker.out_gate.": "mask_head.out_gate.", "masker.mask_conv.": "mask_head.mask_conv."}

KEY_MAPS: dict[str, dict[str, str]] = {
    "convtasnet": {"encoder.": "encoder.conv.", "decoder.": "decoder.deconv.", "masker.tcn.": "separator.tcn.",
                   "masker.head.prelu.": "separator.out.0.", "masker.head.conv.": "separator.out.1."},
    "dprnn": _DUAL_PATH_KEYS,
    "dptnet": _DUAL_PATH_KEYS,
    "upit": {"separator.": "separator.stack.", "mask_head.linear.": "separator.out."},
}
"""Family state-dict key prefix -> the ESD model's (:func:`esd_state_dict`)."""


def _point_knobs(family: str, params: Mapping[str, Any] | None) -> dict[str, Any]:
    if family not in _POINTS:
        raise ValueError(f"family {family!r} is not a named point of esd; known: {sorted(_POINTS)}")
    required, knobs = _POINTS[family]
    p = get_family(family).resolve(params)
    outside = {k: p[k] for k, v in required.items() if p[k] != v}
    if outside:
        raise ValueError(f"{family} with {outside} is outside esd's space (it needs {required})")
    return knobs(p)


def point(family: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The esd knobs (resolved) that build ``family`` with ``params`` layer for layer.

    Args:
        family: ``'convtasnet'``, ``'dprnn'``, ``'dptnet'`` or ``'upit'``.
        params: the family's hyperparameters (a preset; missing keys take its defaults).

    Raises:
        ValueError: another family, or a configuration esd does not cover (causal, dropout,
            frame PIT, uPIT-LSTM).
    """
    return FAMILY.resolve(_point_knobs(family, params))


def esd_state_dict(family: str, state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """A ``family`` model's weights under the names of the esd model of :func:`point`.

    Raises:
        KeyError: a key no prefix of :data:`KEY_MAPS` covers.
    """
    renames = KEY_MAPS[family]
    out = {}
    for key, value in state_dict.items():
        prefix = next((p for p in renames if key.startswith(p)), None)
        if prefix is None:
            raise KeyError(f"{family} key {key!r} has no esd name (KEY_MAPS[{family!r}]: {list(renames)})")
        out[renames[prefix] + key[len(prefix):]] = value
    return out


FAMILY = register(
    ComposedFamily(
        name="esd",
        description=(
            "ESD (the lecture's Encoder-Separator-Decoder framing): a composable family whose knobs "
            "pick the encoder (uPIT's STFT magnitude or a learned 1-D conv), the separator (BLSTM "
            "stack, TCN, dual-path RNN, dual-path transformer, U-ConvBlocks), the mask head and "
            "activation, and each block's sizes, from the blocks the other families use. "
            "Conv-TasNet, DPRNN, DPTNet and uPIT are named points of the space."
        ),
        blocks={
            "encoder": "STFT magnitude (uPIT: log, per-utterance normalised) or Conv1d(1, N, L, hop L/2) (+ReLU)",
            "separator": "BLSTM stack | TCN | dual-path BLSTM | dual-path transformer | U-ConvBlocks, "
                         "ending in (PReLU +) a 1x1 projection to S streams",
            "mask head": "linear (Conv-TasNet, uPIT) or tanh x sigmoid gate + 1x1 (DPRNN); "
                         "softmax / sigmoid / relu / tanh",
            "decoder": "mask x coefficients: inverse STFT (mixture phase) or ConvTranspose1d(N, 1, L, hop L/2)",
        },
        hyperparameters=_knobs(),
        selectors=SELECTORS,
        presets={
            # Conv-TasNet's paper preset (4,984,881 parameters, as the convtasnet family).
            "paper": _point_knobs("convtasnet", get_family("convtasnet").presets["paper"]),
            "paper_dprnn": _point_knobs("dprnn", get_family("dprnn").presets["paper"]),
            "paper_dptnet": _point_knobs("dptnet", get_family("dptnet").presets["paper"]),
            "paper_upit": _point_knobs("upit", get_family("upit").presets["paper"]),
            # Conv-TasNet's cpu preset (74,261 parameters).
            "cpu": _point_knobs("convtasnet", get_family("convtasnet").presets["cpu"]),
        },
        builder=build_esd,
        # Those of the points; uPIT's and DPTNet's published counts do not match their models
        # (docs/families.md), so they are left out here rather than pinned twice.
        published_params={"paper": 5_100_000, "paper_dprnn": 2_600_000},
    )
)
