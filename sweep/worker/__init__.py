"""What runs inside a Ray worker: :mod:`~sweep.worker.trial` runs one
:class:`~sweep.plan.TrialPlan` (build, train, validate, test, report to Tune) with the loops of
:mod:`~sweep.worker.train`. Nothing here touches the database."""
