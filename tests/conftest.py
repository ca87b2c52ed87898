"""Shared fixtures. Tests that need ../shared skip without it, except in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
IN_CI = bool(os.environ.get("CI"))


def require_shared(sub: str = "") -> Path:
    """The path ../shared/<sub>, or skip (fail in CI) when it is missing."""
    path = SHARED / sub
    if not path.exists():
        message = f"{path} is missing: the cases and corpus live beside the project"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared_dir() -> Path:
    return require_shared()


@pytest.fixture
def cases_dir() -> Path:
    return require_shared("cases")


@pytest.fixture
def corpus_dir() -> Path:
    return require_shared("corpus")
