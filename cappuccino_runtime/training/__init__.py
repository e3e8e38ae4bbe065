"""Optuna training: search space, CPCV, the objective, workers sharing a study, two-phase search.

See docs/training.md. Entry points: `worker.run_worker` (what `cappuccino train` runs),
`worker.create_study` (`cappuccino study create`), `objective.run_trial` (one parameter set,
no Optuna), `two_phase` (phase 1 / phase 2 spaces and the stored winner).
"""
