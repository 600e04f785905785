"""The driver process: everything that imports ``ray.tune`` or ``optuna``.

* :mod:`~sweep.driver.launch`: ``launch`` = open the study, build the Tuner, run it;
* :mod:`~sweep.driver.searcher`: the Tune ``Searcher`` that holds the Optuna study (ask/tell),
  the samplers, and recovery of a study whose driver died;
* :mod:`~sweep.driver.callbacks`: Tune callbacks in the driver: the store's writer, the progress lines.
"""
