"""The clocks' configuration as config.example.toml documents it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mailbot.deadlines import (
    DEFAULT_RULES,
    ChasePolicy,
    chase_policy_from_config,
    rules_from_config,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_the_example_states_the_defaults() -> None:
    # The example documents the defaults by writing them out: if either
    # changes, the other must follow.
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(data["rules"]) == {rule.name for rule in DEFAULT_RULES}
    assert rules_from_config(data["rules"]) == DEFAULT_RULES
    assert chase_policy_from_config(data["chase"]) == ChasePolicy()
