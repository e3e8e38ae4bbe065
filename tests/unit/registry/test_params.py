"""Decoding Optuna's stored parameter representation without Optuna."""

from __future__ import annotations

import json

import optuna
from cappuccino_contracts.registry import decode_param


def test_decodes_every_distribution_like_optuna_does() -> None:
    cases = [
        (optuna.distributions.FloatDistribution(0.0, 1.0), 0.25),
        (optuna.distributions.FloatDistribution(1e-5, 1.0, log=True), 3e-4),
        (optuna.distributions.IntDistribution(1, 512, step=1), 64),
        (optuna.distributions.CategoricalDistribution(["a", "b", 128, None]), "b"),
        (optuna.distributions.CategoricalDistribution(["a", "b", 128, None]), 128),
    ]
    for dist, external in cases:
        stored = dist.to_internal_repr(external)
        text = optuna.distributions.distribution_to_json(dist)
        decoded = decode_param(float(stored), text)
        assert decoded == external
        assert type(decoded) is type(external)


def test_legacy_integer_distribution_names_decode_to_int() -> None:
    text = json.dumps({"name": "IntUniformDistribution", "attributes": {"low": 0, "high": 9}})
    assert decode_param(4.0, text) == 4
    assert isinstance(decode_param(4.0, text), int)
