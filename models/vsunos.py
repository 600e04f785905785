"""VSUNOS: voice separation with MulCat dual-path blocks and a loss after every block.

Nachmani, Adi, Wolf, "Voice separation with an unknown number of multiple speakers", ICML 2020
(arXiv:2003.01531). Layout and sizes as in the authors' code (``facebookresearch/svoice``).

Encoder - Separator - Mask head - Decoder (no mask: the head emits each source's latent):

    mixture [B, T] --pad--> [B, 1, T'] --Conv1d(1, N, L, hop L//2) + ReLU--> w [B, N, K]
        --chunk (K_c frames, hop K_c/2)--> [B, N, K_c, S_c]
        --R x (intra-chunk MulCat + gLN, residual; inter-chunk MulCat + gLN, residual)
          (models.blocks.mulcat: two BLSTMs, multiply, concatenate with the input, project)
        --after EVERY block r: PReLU, 1x1 Conv2d N -> S*N (shared), overlap-add--> [B, S, N, K]
        --ConvTranspose1d(N, 1, L, hop L//2)--> ŝ_r [B, S, T'] --cut--> [B, S, T]

``forward`` returns the last block's estimate. Training (:meth:`VSUNOS.training_loss`) is the
paper's deep supervision: uPIT negative SI-SNR of every block's estimate, averaged over the
``R`` blocks. Not implemented: the paper's speaker-identity loss (a pretrained speaker-ID
network's embeddings of estimate and reference should agree), which needs speaker labels and
a speaker model the harness does not have; and its model selection for an unknown number of
speakers (one model per ``S``, plus a speech detector), since a harness model has a fixed ``S``.

Choices where the paper leaves room. Window ``L = 4`` (hop 2, the stride the reference table
lists; the authors' code defaults to ``L = 8``; the window only changes ``2 N L`` weights).
Chunk size ``K_c = 180`` frames: the authors derive it as ``sqrt(2 * frames of a 4 s training
segment)``, 179 at hop 2 and 8 kHz; here it is a fixed hyperparameter so that a model does
not depend on the training segment length. Overlap-add sums the chunks, as the authors' code.

Size of the ``paper`` preset (N = H = 128, R = 6), 2 speakers: **7,561,985** (published 7.5M,
+0.8 %): 6 blocks x 2 MulCats x 627,072, the 24 gLN affine vectors, the shared head
(33,025) and encoder/decoder (1,024).
"""

from __future__ import annotations

from torch import Tensor, nn

from .blocks.dual_path import DualPathBlock, DualPathNorm, chunk, overlap_add
from .blocks.losses import pit_neg_si_snr
from .blocks.mulcat import MulCat
from .masking import EncoderMaskerDecoder
from .registry import Family, HParam, register


class MulCatSeparator(nn.Module):
    """Encoder features ``[B, N, K]`` -> one latent estimate ``[B, S, N, K]`` per block.

    Args:
        N: encoder filters (features in the blocks). H: LSTM units per direction.
        R: MulCat dual-path blocks. K: chunk size in frames (hop ``K // 2``). n_src: ``S``.
    """

    def __init__(self, N: int, H: int, R: int, K: int, n_src: int) -> None:
        super().__init__()
        if K < 2:
            raise ValueError(f"chunk size K must be >= 2 frames, got {K}")
        self.N, self.K, self.n_src = N, K, n_src
        self.blocks = nn.ModuleList(
            DualPathBlock(MulCat(N, H), MulCat(N, H), DualPathNorm("gLN", N), DualPathNorm("gLN", N))
            for _ in range(R)
        )
        self.head = nn.Sequential(nn.PReLU(), nn.Conv2d(N, n_src * N, 1))

    def forward(self, w: Tensor, every_block: bool = True) -> list[Tensor]:
        B, N, T = w.shape
        x = chunk(w, self.K)  # [B, N, K, S_c]
        outputs = []
        for r, block in enumerate(self.blocks):
            x = block(x)
            if every_block or r == len(self.blocks) - 1:
                y = self.head(x).reshape(B * self.n_src, N, *x.shape[-2:])  # source-major channels
                outputs.append(overlap_add(y, T, reduce="sum").reshape(B, self.n_src, N, T))
        return outputs


class VSUNOS(EncoderMaskerDecoder):
    """VSUNOS (MulCat dual-path, deep supervision); see the module docstring.

    Args:
        n_src: speakers ``S``. sample_rate: Hz (``L`` is in samples).
        N: encoder filters. L: window in samples, hop ``L // 2``.
        H: LSTM units per direction. R: MulCat blocks. K: chunk size in frames.
    """

    def __init__(self, n_src: int = 2, sample_rate: int = 8000, N: int = 128, L: int = 4, H: int = 128,
                 R: int = 6, K: int = 180) -> None:
        if L < 2:
            raise ValueError(f"L must be >= 2 (the hop is L // 2), got {L}")
        stride = L // 2
        encoder = nn.Sequential(nn.Conv1d(1, N, L, stride=stride, bias=False), nn.ReLU())
        decoder = nn.ConvTranspose1d(N, 1, L, stride=stride, bias=False)
        super().__init__(encoder, MulCatSeparator(N, H, R, K, n_src), decoder, n_src, sample_rate, L, stride)

    def estimates(self, mixture: Tensor, every_block: bool) -> list[Tensor]:
        """``[B, T]`` -> each block's (or only the last block's) ``[B, S, T]`` estimate."""
        self._check_mixture(mixture)
        b, t = mixture.shape
        latents = self.masker(self.encoder(self.pad(mixture)), every_block)  # R x [B, S, N, K]
        return [self.decoder(z.flatten(0, 1)).reshape(b, self.n_src, -1)[..., :t] for z in latents]

    def forward(self, mixture: Tensor) -> Tensor:
        return self.estimates(mixture, every_block=False)[-1]

    def training_loss(self, mixture: Tensor, sources: Tensor) -> Tensor:
        """Mean over blocks of uPIT negative SI-SNR (dB, to minimise)."""
        self._check_sources(mixture, sources)
        losses = [pit_neg_si_snr(est, sources)[0] for est in self.estimates(mixture, every_block=True)]
        return sum(losses) / len(losses)


_PAPER = {"N": 128, "L": 4, "H": 128, "R": 6, "K": 180}

FAMILY = register(
    Family(
        name="vsunos",
        description=(
            "VSUNOS (Nachmani, Adi, Wolf, ICML 2020): a learned filterbank and dual-path blocks "
            "of MulCat units (two BLSTMs, one gating the other by multiplication, concatenated with "
            "the input and projected), emitting each speaker's latent directly (no mask); every "
            "block's output is decoded and scored (deep supervision, uPIT negative SI-SNR). "
            "Without the paper's speaker-identity loss."
        ),
        blocks={
            "encoder": "Conv1d(1, N, L, stride L//2) + ReLU, no bias",
            "separator": "chunking K (hop K/2), R x [intra MulCat + gLN, inter MulCat + gLN, residual each]",
            "mask head": "after every block: PReLU + 1x1 Conv2d N -> S*N (shared), overlap-add; no mask",
            "decoder": "ConvTranspose1d(N, 1, L, stride L//2) on each block's output, no bias",
        },
        hyperparameters={
            hp.name: hp
            for hp in (
                HParam("N", "int", 128, low=8, high=512, log=True, doc="encoder filters / block features"),
                HParam("L", "int", 4, low=2, high=64, log=True, doc="window in samples (hop L//2)"),
                HParam("H", "int", 128, low=8, high=512, log=True, doc="LSTM units per direction"),
                HParam("R", "int", 6, low=1, high=12, doc="MulCat dual-path blocks (each one supervised)"),
                HParam("K", "int", 180, low=2, high=500, log=True, doc="chunk size in frames (hop K/2)"),
            )
        },
        presets={
            "paper": dict(_PAPER),
            "cpu": {"N": 32, "L": 16, "H": 32, "R": 2, "K": 50},
        },
        builder=VSUNOS,
        published_params={"paper": 7_500_000},
        published_systems=("VSUNOS",),
    )
)
