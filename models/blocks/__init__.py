"""Building blocks shared by the separator families (Encoder / Separator / Mask head / Decoder)."""

from models.blocks.masks import ACTIVATIONS, MASK_TYPES, MaskHead, apply_activation, mask_target
from models.blocks.pit import apply_permutation, frame_pit_loss, pairwise_mse, permutations, utterance_pit_loss
from models.blocks.rnn import RNNStack
from models.blocks.stft import ISTFTDecoder, STFTEncoder, sqrt_hann_window, stft_params

__all__ = [
    "ACTIVATIONS",
    "MASK_TYPES",
    "ISTFTDecoder",
    "MaskHead",
    "RNNStack",
    "STFTEncoder",
    "apply_activation",
    "apply_permutation",
    "frame_pit_loss",
    "mask_target",
    "pairwise_mse",
    "permutations",
    "sqrt_hann_window",
    "stft_params",
    "utterance_pit_loss",
]
