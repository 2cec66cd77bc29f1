"""advex.engine: the experiment engine.

It runs a comparison, writes its files and scores its data: the held-out coverage set
(:mod:`~advex.engine.coverage`), evaluation fits and metrics, reference rows, the round loop
with its checkpoints (:mod:`~advex.engine.experiment`), the job pool of ``advex compare``
(:mod:`~advex.engine.compare`), the tidy results file, and ``advex plan``'s use of a run's
model (:mod:`~advex.engine.planning`). It sits above envs, models, agents and exploration and
below :mod:`advex.analysis`, which reads the files it writes (statistics, tables, plots,
reports) and never runs a model's training.
"""
