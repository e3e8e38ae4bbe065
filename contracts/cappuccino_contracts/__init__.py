"""What the Cappuccino runtime and operator agree on, written once.

Both packages install this one (the operator image stays torch-free, so nothing here imports
torch, numpy, kopf or either package). One module per shared shape or rule:

- `errors`: the root of the error hierarchy (`ConfigError`: bad input, the CLI exits 2).
- `naming`: study names and the studies derived from them, portfolio ids, object names.
- `manifests`: ensemble_manifest.json / arena_config.json models and their one reader.
- `tables`: the trading ledger's tables (one MetaData) and the Optuna columns we read.
- `registry`: the "best trials" statements over Optuna's tables.
- `artifacts`: the artifact layout, trial.json / metadata.json and their readers, trial attrs.

docs/CONTRACTS.md says who imports each.
"""
