"""The naming rules of cappuccino_contracts.naming, and that the Study CRD is generated from them."""

from __future__ import annotations

import re

import pytest
from cappuccino_contracts.errors import ConfigError
from cappuccino_contracts.naming import (
    STUDY_NAME_MAX_LENGTH,
    STUDY_NAME_PATTERN,
    STUDY_NAME_SPEC_MAX_LENGTH,
    check_study_name,
    default_study_name,
    member_portfolio_id,
    phase1_study_name,
    portfolio_id,
    refit_study_name,
)

BAD = ["../escape", "/etc", "a/b", "..", "", "a..b", "ok/../..", ".hidden", "-x", "x" * 129]
GOOD = ["demo-1.v2_x", "team-a.btc", "a", "a.", "x" * 128, "A_b-C.d"]


@pytest.mark.parametrize("name", BAD)
def test_unsafe_study_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(ConfigError, match=r"study name .* is not allowed: use 1-128 letters"):
        check_study_name(name)


@pytest.mark.parametrize("name", GOOD)
def test_safe_study_names_pass_unchanged(name: str) -> None:
    assert check_study_name(name) == name


@pytest.mark.parametrize("name", BAD + GOOD)
def test_the_crd_pattern_and_the_python_check_agree(name: str) -> None:
    """One pattern serves both: the apiserver's OpenAPI check (pattern + maxLength) and the
    runtime's check agree on every name (the spec limit is the shorter one)."""
    by_pattern = bool(re.match(STUDY_NAME_PATTERN, name)) and len(name) <= STUDY_NAME_MAX_LENGTH
    try:
        check_study_name(name)
        by_check = True
    except ConfigError:
        by_check = False
    assert by_pattern == by_check


def test_a_spec_name_leaves_room_for_every_derived_study() -> None:
    longest = "x" * STUDY_NAME_SPEC_MAX_LENGTH
    for derived in (refit_study_name(longest), phase1_study_name(longest)):
        assert check_study_name(derived) == derived


def test_derived_names_and_ids() -> None:
    assert default_study_name("team-a", "btc") == "team-a.btc"
    assert refit_study_name("team-a.btc") == "team-a.btc-refit"
    assert phase1_study_name("s") == "s-phase1"
    assert portfolio_id("ns", "arena") == "ns/arena"
    assert member_portfolio_id("ns/arena", "s", 7) == "ns/arena/s:7"


def test_the_study_crd_schema_comes_from_the_constants() -> None:
    from cappuccino_operator.api.study import StudySpec

    field = StudySpec.model_json_schema(by_alias=True)["properties"]["studyName"]
    branches = field.get("anyOf", [field])
    schema = next(b for b in branches if b.get("type") == "string")
    assert schema["pattern"] == STUDY_NAME_PATTERN
    assert schema["maxLength"] == STUDY_NAME_SPEC_MAX_LENGTH
