"""Shared fixtures. Tests that need ../shared skip without it, except in CI.

The real servers (a private Dovecot, an SMTP sink, a PostgreSQL database per
test) come from servers.py beside this file. In CI nothing may skip: a skip
there is reported as a failure, so a missing server cannot pass unnoticed.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path

import mailbot_env
import pytest
from servers import (
    IN_CI,
    Dovecot,
    SmtpSink,
    database_server,
    dovecot_missing,
    fresh_database,
    openssl_missing,
    require,
    smtp_sink_missing,
)
from sqlalchemy.engine import URL

# test_servers.py runs pytest on a few tests of its own to check the CI policy.
pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"

# The test suite's own settings were once MAILBOT_ variables; mailbot reads
# that prefix as its configuration and refuses names it does not know.
_RENAMED = {
    "MAILBOT_TEST_DATABASE": "--database",
    "MAILBOT_CRASH_SEED": "--crash-seed",
    "MAILBOT_MUTATIONS": "--mutations",
    "MAILBOT_MUTATION_SEED": "--mutation-seed",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mailbot", "mailbot's test suite")
    group.addoption(
        "--database",
        default="sqlite",
        help="sqlite (a file per test, the default), postgresql (a database per"
        " test on 127.0.0.1:5432) or the URL of a PostgreSQL server to use so",
    )
    group.addoption(
        "--crash-seed", type=int, default=6, help="test_crash's kill points"
    )
    group.addoption(
        "--mutations",
        type=int,
        default=None,
        help="how many mutants test_mutation makes (10,000 unless given)",
    )
    group.addoption(
        "--mutation-seed", type=int, default=20261204, help="test_mutation's mutants"
    )


def pytest_configure(config: pytest.Config) -> None:
    for old, new in _RENAMED.items():
        if old in os.environ:
            raise pytest.UsageError(
                f"{old} is no longer read: pass `{new} {os.environ[old]}` to"
                f" pytest instead, and unset {old} (mailbot refuses unknown"
                " MAILBOT_ variables)"
            )


# Tests using these fixtures get the `servers` marker, so `-m "not servers"`
# runs the rest without Dovecot or an SMTP server.
SERVER_FIXTURES = frozenset({"dovecot", "dovecot_tls", "smtp_sink"})


@pytest.fixture(autouse=True)
def _apps_closed() -> Iterator[None]:
    """Close the Apps a test made with mailbot_env.make_app (closing is idempotent)."""
    yield
    while mailbot_env.OPENED:
        mailbot_env.OPENED.pop().close()


@pytest.fixture(autouse=True)
def _root_logger_restored() -> Iterator[None]:
    """Undo the handlers a test's `mailbot.cli.main()` puts on the root logger.

    The CLI writes logs to the sys.stderr of its moment, which under pytest is
    a capture file closed after the test; server threads that log later would
    otherwise hit "I/O operation on closed file".
    """
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _garbage_collection_restored() -> Iterator[None]:
    """Undo the collector's thresholds that `poll` and `ingest` set for their
    process (commands.collect_garbage_less_often): the tests run on at the
    interpreter's own."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


@pytest.fixture(autouse=True)
def _templates_given_what_the_check_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """Each mail mailbot renders in a test is given exactly the names the
    start-up check renders that template with (template_check.samples): a
    name given only to the check lets an override pass at start and fail
    on every real mail; one given only here is never checked."""
    from mailbot import render

    real = render.render
    strays: list[str] = []

    def watched(env: object, name: str, **context: object) -> tuple[str, str]:
        cases = _sample_names().get(name)
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if cases and caller.startswith("mailbot.") and set(context) not in cases:
            nearest = min(cases, key=lambda case: len(case ^ set(context)))
            strays.append(
                f"{caller} renders {name} with {sorted(set(context) - nearest)}"
                f" more and {sorted(nearest - set(context))} fewer than the check"
            )
        return real(env, name, **context)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "render", watched)
    yield
    assert not strays, strays


@functools.cache
def _sample_names() -> dict[str, list[frozenset[str]]]:
    from mailbot import render, template_check
    from mailbot.deadlines import chase_policy_from_config, rules_from_config

    names: dict[str, list[frozenset[str]]] = {}
    for name, _, context in template_check.samples(
        render.environment(None),
        rules_from_config(None, ()),
        chase_policy_from_config(None, ()).levels,
        "abuse@csirt.example.org",
    ):
        names.setdefault(name, []).append(frozenset(context))
    return names


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


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A running private Dovecot (plain IMAP) with an empty INBOX."""
    require(dovecot_missing())
    with Dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[Dovecot]:
    """A running private Dovecot speaking implicit TLS (IMAPS)."""
    require(dovecot_missing() or openssl_missing())
    with Dovecot(tls=True) as server:
        yield server


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """A running SMTP sink that accepts every mail, without AUTH or TLS."""
    require(smtp_sink_missing())
    with SmtpSink() as sink:
        yield sink


@pytest.fixture(scope="session")
def database_server_url(pytestconfig: pytest.Config) -> URL | None:
    """The PostgreSQL server to make test databases on, or None for SQLite."""
    setting = str(pytestconfig.getoption("database")).strip()
    if setting in ("", "sqlite"):
        return None
    return database_server(setting)


@pytest.fixture
def database_url(database_server_url: URL | None, tmp_path: Path) -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    if database_server_url is None:
        yield f"sqlite:///{tmp_path / 'mailbot.db'}"
        return
    with fresh_database(database_server_url) as url:
        yield url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    # An expected failure (xfail) is reported as skipped too: leave it alone.
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {_why(report)}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield
    # A module that skips itself (importorskip, say) would hide all its tests.
    if IN_CI and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {_why(report)}"
    return report


def _why(report: pytest.TestReport | pytest.CollectReport) -> str:
    # A skip's longrepr is (path, line, "Skipped: reason").
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):
        return str(longrepr[2])
    return str(longrepr)
