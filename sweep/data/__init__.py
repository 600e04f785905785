"""Datasets: every ``dataset.kind`` ends up as a folder in the wsj0-2mix layout that trials read.

- ``registry``: :class:`DatasetKind` and ``register``; ``kinds``: the import line of every kind;
  ``kind_default`` / ``kind_wsj0mix`` / ``kind_librimix`` / ``kind_speakers``: the kinds.
- ``spec``: the spec's ``dataset:`` section (``DatasetSpec``, one field per key of every kind).
- ``check``: the checks before anything trains (``DataPlan``); ``prepare``: the prepared roots
  and ``make_datasets`` for a trial; ``cache``: where corpora live, for the driver and the CLI.
- Readers and writers: ``wsj0mix`` (the layout's torch Dataset and test conditions),
  ``librimix`` (metadata CSVs), ``speakers`` (folders of recordings), ``synth`` (the embedded
  default corpus; ``generated``: where it may be written), ``mixing`` (levels, the mixing recipe, fixed sets) and ``dynamic`` (dynamic
  mixing).
- ``constants``: split names and folders, levels, default sizes, random-stream tags.

Import the submodules; this package re-exports nothing, so ``import sweep.data.synth`` (the
CLI's data build) does not pay for importing torch.
"""
