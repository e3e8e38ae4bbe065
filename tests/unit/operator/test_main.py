"""The operator's command line and settings."""

from __future__ import annotations

import kopf
import pytest
from cappuccino_operator.config import OperatorConfig
from cappuccino_operator.handlers.startup import apply_settings
from cappuccino_operator.main import parse_args


def test_run_needs_a_scope() -> None:
    with pytest.raises(SystemExit):
        parse_args(["run"])
    assert parse_args(["run", "-A", "--standalone"]).all_namespaces
    assert parse_args(["run", "--namespace", "a", "--namespace", "b"]).namespaces == ["a", "b"]


def test_settings_use_our_prefixes_and_watch_timeouts() -> None:
    settings = kopf.OperatorSettings()
    apply_settings(settings)
    assert settings.persistence.finalizer == "cappuccino.dev/kopf-finalizer"
    assert settings.watching.server_timeout and settings.watching.client_timeout
    assert settings.watching.connect_timeout and settings.networking.request_timeout
    assert settings.peering.name == "cappuccino"


def test_config_from_env_hides_the_url() -> None:
    cfg = OperatorConfig.from_env(
        {"CAPPUCCINO_STORAGE": "postgresql://u:pw@h/db", "CAPPUCCINO_OPERATOR_STATUS_INTERVAL": "2"}
    )
    assert cfg.status_interval == 2.0 and "pw" not in repr(cfg)


def test_ledgers_are_read_with_the_read_only_url_when_no_secret_is_named() -> None:
    from types import SimpleNamespace

    from cappuccino_operator.handlers.common import ledger_read_url

    cfg = OperatorConfig.from_env(
        {
            "CAPPUCCINO_STORAGE": "postgresql://worker:pw@h/db",
            "CAPPUCCINO_LEDGER_READ_URL": "postgresql://readonly:pw@h/db",
            "CAPPUCCINO_STORAGE_SECRET_KEY": "dsn",
        }
    )
    assert cfg.storage_secret_key == "dsn" and "readonly" not in repr(cfg)
    memo = SimpleNamespace(config=cfg)
    assert ledger_read_url(memo, "ns", None) == "postgresql://readonly:pw@h/db"
    without = SimpleNamespace(config=OperatorConfig(storage_url="postgresql://worker:pw@h/db"))
    assert ledger_read_url(without, "ns", None) == "postgresql://worker:pw@h/db"
