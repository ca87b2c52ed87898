"""Reminders that fall due together: one mail for a site, one for the CSIRT.

A sweep may find several clocks of one site in one incident due at once
(the 4-hour report and a CSIRT request, containment and analysis, often
after a night or a weekend moved them to the same opening hour). The site
gets one mail in the thread that lists every one of them, not a mail each
a second apart, and the duty team one notice for the escalations that fall
together. Each clock still records its own level (its chase row), with the
one mail that carried it, so `show` lists every clock reminded and a
restart sends nothing twice. Different incidents are different threads:
their reminders stay apart.

The sweep and the forecast (`mailbot deadlines`) split the clocks into
mails with the one function here, so what the forecast shows is what the
sweep sends.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import TypeVar

import jinja2
from jinja2 import meta

# Levels up to this one chase the site (deadlines.chase.SITE_LEVELS); the
# later ones tell the CSIRT.
SITE_LEVELS = 2

T = TypeVar("T")

# Whether a template lists `items`, per environment (read once per name).
_LISTS: weakref.WeakKeyDictionary[jinja2.Environment, dict[str, bool]] = (
    weakref.WeakKeyDictionary()
)


def audience(level: int) -> str:
    """Who a level's mail goes to: "site" (its contacts, the NGI in copy at
    the last site level) or "csirt" (the duty team)."""
    return "site" if level <= SITE_LEVELS else "csirt"


def level_template(level: int) -> str:
    """The template of a level for every rule: `reminder-N` or `escalation`."""
    return f"reminder-{level}.txt.j2" if level <= SITE_LEVELS else "escalation.txt.j2"


def own_template(env: jinja2.Environment, level: int, rule: str) -> bool:
    """Whether `rule` has a template of its own for `level` (`reminder-1-RULE`):
    it was written for that rule alone, so that clock keeps its own mail."""
    stem = level_template(level).removesuffix(".txt.j2")
    try:
        env.get_template(f"{stem}-{rule}.txt.j2")
    except jinja2.TemplateNotFound:
        return False
    return True


def lists_items(env: jinja2.Environment, name: str) -> bool:
    """Whether template `name` lists the clocks of its mail (`items`).

    A template of an operator's folder written before mails carried several
    clocks names one (`rule`, `due_at`): its clocks keep a mail each, so
    that none is reminded in a mail that does not name it.
    """
    known = _LISTS.setdefault(env, {})
    if name not in known:
        loader = env.loader
        assert loader is not None  # render.environment always sets one
        source, _, _ = loader.get_source(env, name)
        known[name] = "items" in meta.find_undeclared_variables(env.parse(source))
    return known[name]


def split(
    env: jinja2.Environment,
    clocks: Sequence[T],
    level_of: Callable[[T], int],
    rule_of: Callable[[T], str],
) -> list[list[T]]:
    """The mails that `clocks` go out in, each a list, the first clock first.

    `clocks` are due together, of one incident, one site and one audience.
    Those whose rule has its own template for their level go alone; the
    others go in one mail, written by the template of their highest level
    (the NGI in copy when one of them reached level 2), when that template
    lists them all.
    """
    alone = [c for c in clocks if own_template(env, level_of(c), rule_of(c))]
    shared = [c for c in clocks if not own_template(env, level_of(c), rule_of(c))]
    mails: list[list[T]] = []
    if shared:
        top = max(level_of(c) for c in shared)
        if len(shared) == 1 or lists_items(env, level_template(top)):
            mails.append(shared)
        else:
            mails.extend([c] for c in shared)
    mails.extend([c] for c in alone)
    return mails


def primary(clocks: Sequence[T], level_of: Callable[[T], int]) -> T:
    """The clock a mail is addressed and worded by: the first of the highest
    level (the level decides the recipients and the template)."""
    top = max(level_of(c) for c in clocks)
    return next(c for c in clocks if level_of(c) == top)
