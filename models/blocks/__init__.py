"""Building blocks of the separator families (Encoder / Separator / Mask head / Decoder).

Import from the submodules; this package re-exports nothing, so no block looks more shared
than it is. Shared by several families:

- :mod:`.activations`: mask non-linearities by name (every mask head);
- :mod:`.norms`: gLN / cLN / chLN / BN by name (every channel norm);
- :mod:`.dual_path`: chunking, overlap-add, the dual-path block and masker (DPRNN, DPTNet, SepFormer);
- :mod:`.learned_filterbank`: bias-free conv encoder / transposed-conv decoder (DPRNN, DPTNet);
- :mod:`.losses`: uPIT negative SI-SNR (every time-domain family);
- :mod:`.pit`: permutations and the mask-domain (u)PIT losses (uPIT; ``permutations`` for all).

Used by one family each: :mod:`.stft`, :mod:`.masks`, :mod:`.rnn` (uPIT), :mod:`.tcn`
(Conv-TasNet), :mod:`.transformer` (SepFormer), :mod:`.uconv` (SuDoRM-RF); the composable
``esd`` family reuses them (and the learned filterbank) through :mod:`.separators` (every
separator behind one interface) and :mod:`.mask_heads` (linear and gated heads).
"""
