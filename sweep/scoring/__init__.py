"""Scoring, on numpy and torch only (no Ray, no database).

* :mod:`~sweep.scoring.metrics`: SI-SNR(i), SDR(i), SIR, SAR per utterance, permutation rules;
* :mod:`~sweep.scoring.bss_eval`: BSS-Eval's projections (mir_eval's definition, batched);
* :mod:`~sweep.scoring.registry`: the test metrics a trial reports (one line per metric);
* :mod:`~sweep.scoring.evaluate`: a trained model on the test conditions and assignments;
* :mod:`~sweep.scoring.oracle`: oracle masks (IPSM, IRM, IBM, WFM) as upper references;
* :mod:`~sweep.scoring.pool`: a process pool for scoring many utterances;
* :mod:`~sweep.scoring.stats`: confidence intervals, paired tests, ties with the best.
"""
