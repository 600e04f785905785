"""Using a kept checkpoint: ``sweep separate`` (recordings in, one WAV per speaker out) and
``sweep export`` (a TorchScript or ONNX file with a model card beside it).

- :mod:`sweep.inference.kept`: the checkpoint of a study's trial, found through the database;
- :mod:`sweep.inference.chunks`: a long mixture separated in overlapping chunks, the speaker
  order aligned across chunks and the seams cross-faded;
- :mod:`sweep.inference.separate`: files in (any rate, ``--channel K`` of a multi-channel file),
  resampled to the model's rate and back, WAVs out;
- :mod:`sweep.inference.export`: TorchScript and ONNX files, each checked against eager PyTorch;
- :mod:`sweep.inference.command`: the two sub-commands.
"""
