"""Limits come from the environment with documented defaults; bad values fail at start-up."""

from __future__ import annotations

import pytest

from graph.security.limits import LimitSettings
from graph.settings import Settings


def test_defaults_apply_without_environment() -> None:
    limits = Settings.from_env().limits
    assert limits == LimitSettings()
    assert (limits.max_depth, limits.max_aliases, limits.max_tokens, limits.max_cost) == (
        12,
        30,
        5_000,
        10_000,
    )
    assert limits.max_body_bytes == limits.max_ws_message_bytes == 1024 * 1024
    assert limits.max_page_size == 200 and limits.rate_limits
    assert (limits.max_field_repeats, limits.max_directives) == (20, 5)


def test_each_limit_reads_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "CAAS_MAX_DEPTH": "8",
        "CAAS_MAX_ALIASES": "0",
        "CAAS_MAX_TOKENS": "900",
        "CAAS_MAX_COST": "2500",
        "CAAS_COST_LIST_SIZE": "20",
        "CAAS_MAX_BODY_BYTES": "65536",
        "CAAS_RATE_LIMITS": "off",
        "CAAS_RATE_LIMIT_MUTATIONS": "50 per 10 seconds",
        "CAAS_TRUSTED_PROXY_HOPS": "1",
        "CAAS_MAX_FIELD_REPEATS": "3",
        "CAAS_MAX_DIRECTIVES": "0",
    }.items():
        monkeypatch.setenv(name, value)
    limits = LimitSettings.from_env()
    assert (limits.max_depth, limits.max_aliases, limits.max_tokens) == (8, 0, 900)
    assert (limits.max_cost, limits.default_list_size, limits.max_body_bytes) == (2500, 20, 65536)
    assert not limits.rate_limits and limits.rate_mutations == "50 per 10 seconds"
    assert limits.trusted_proxy_hops == 1
    assert (limits.max_field_repeats, limits.max_directives) == (3, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CAAS_MAX_DEPTH", "deep"),
        ("CAAS_MAX_COST", "0"),
        ("CAAS_RATE_LIMIT_READS", "lots"),
        ("CAAS_MAX_FIELD_REPEATS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name):
        LimitSettings.from_env()
