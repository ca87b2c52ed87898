"""mailbot reads the real time only through its Clock, which tests can set."""

from __future__ import annotations

import ast
from pathlib import Path

import mailbot

PACKAGE = Path(mailbot.__file__).resolve().parent

# Calls that read the wall clock. A value read past the Clock escapes the
# instant a test sets, so the result depends on the day the tests run: a
# weekend, a public holiday, a year end. time.localtime and time.gmtime read
# it only when given no timestamp.
WALL_CLOCK_CALLS = frozenset(
    {
        ("date", "today"),
        ("datetime", "today"),
        ("datetime", "now"),
        ("datetime", "utcnow"),
        ("time", "time"),
        ("time", "time_ns"),
    }
)
WALL_CLOCK_WITHOUT_ARGUMENTS = frozenset({("time", "localtime"), ("time", "gmtime")})


def _called(node: ast.Call) -> tuple[str | None, str] | None:
    if not isinstance(node.func, ast.Attribute):
        return None
    owner = node.func.value
    if isinstance(owner, ast.Attribute):
        return owner.attr, node.func.attr
    if isinstance(owner, ast.Name):
        return owner.id, node.func.attr
    return None, node.func.attr


def wall_clock_reads(source: str) -> list[int]:
    """The lines of `source` that call a function reading the wall clock."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = _called(node)
        bare = not (node.args or node.keywords)
        if called in WALL_CLOCK_CALLS or (
            bare and called in WALL_CLOCK_WITHOUT_ARGUMENTS
        ):
            lines.append(node.lineno)
    return sorted(lines)


def test_only_the_clock_reads_the_wall_clock() -> None:
    reads = [
        f"{path.relative_to(PACKAGE)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != PACKAGE / "clock.py"
        for line in wall_clock_reads(path.read_text(encoding="utf-8"))
    ]
    assert reads == [], f"read the time through mailbot.clock.Clock instead: {reads}"


def test_the_clock_itself_is_found() -> None:
    assert wall_clock_reads((PACKAGE / "clock.py").read_text(encoding="utf-8"))


def test_what_counts_as_reading_the_wall_clock() -> None:
    source = "\n".join(
        [
            "import datetime as dt, time",
            "from datetime import datetime",
            "a = dt.date.today().year",
            "b = datetime.now(dt.UTC)",
            "c = time.time()",
            "d = time.gmtime()",
            "e = time.gmtime(0)",
            "f = dt.datetime.fromtimestamp(0, dt.UTC)",
            "g = time.monotonic()",
        ]
    )
    assert wall_clock_reads(source) == [3, 4, 5, 6]
