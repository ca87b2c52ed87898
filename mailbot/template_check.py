"""Every mail mailbot sends, rendered at start-up with sample values.

A template of the configured folder that compiles can still fail each
time a mail is rendered: a variable mailbot does not give, a name of an
included template computed from the values, a first line that is not
`Subject:`. Each mail would then be set aside when its report was recorded.
So, when the folder overrides any template, each mail is rendered here as
mailbot sends it (the reminders once for each rule and level, the
templates' branches with the values that take them), and the first fault
is a configuration error naming the file and line. A branch that none of
these values takes is not checked: `mailbot render` shows a real mail.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import jinja2

from mailbot import render
from mailbot.csirt.commands import BadCommand, usage
from mailbot.deadlines import Rule
from mailbot.errors import ConfigError

TAG = "EGI-20261204-01"
OTHER_TAG = "EGI-20261201-03"
AT = "2026-12-04T09:00:00Z"
LATER = "2026-12-07T09:00:00Z"
SITE = "SITE-A"
CONTACTS = ["security@site-a.example.org", "admin@site-a.example.org"]
# The fields the reminders ask for (extract.values.EXPECTED_FIELDS).
MISSING = ["detected_by", "affected_hosts", "evidence", "actions_taken"]
# chase.SITE_LEVELS: the levels after these go to the duty team.
SITE_LEVELS = 2

Sample = tuple[str, str, dict[str, object]]

# The mails about no one incident: they are given no `tag`.
OF_NO_INCIDENT = frozenset({"digest.txt.j2", "brake-alert.txt.j2"})


@dataclass(frozen=True)
class _Command:
    """A command applied, as csirt.replies.Applied gives it."""

    name: str
    line: str
    outcome: str


def check(
    env: jinja2.Environment,
    rules: Sequence[Rule],
    levels: int,
    mailbox: str,
) -> None:
    """Render every mail with sample values; the first fault, naming the
    template file and line, is a ConfigError of templates.directory."""
    for name, case, context in samples(env, rules, levels, mailbox):
        try:
            render.render(env, name, **context)
        except render.TemplateFault as exc:
            given = ", ".join(sorted(context))
            raise ConfigError(
                render.DIRECTORY_KEY,
                f"{exc.where}: {exc.problem} (found rendering {name} {case}"
                f" with sample values; it is given {given}): correct the"
                " template (`mailbot render` shows a mail as it would go out),"
                " or remove it to use the shipped one",
            ) from None


def samples(
    env: jinja2.Environment, rules: Sequence[Rule], levels: int, mailbox: str
) -> Iterator[Sample]:
    """(template, which case, its values) for every mail mailbot renders."""
    common = {"tag": TAG, "mailbox": mailbox}
    for name, case, context in (
        *_acknowledgements(),
        *_notices(),
        *_replies(),
        *_digests(),
    ):
        if name in OF_NO_INCIDENT:
            yield name, case, {"mailbox": mailbox, **context}
        else:
            yield name, case, {**common, **context}
    for level, context in _together(rules, levels) if rules else ():
        # The level's template for every rule (together.level_template).
        base = f"reminder-{level}" if level <= SITE_LEVELS else "escalation"
        yield (
            f"{base}.txt.j2",
            f"level {level} of every rule due together",
            {
                **common,
                **context,
            },
        )
    for rule in rules:
        for level in range(1, levels + 1):
            for case, context in _reminder(rule, level, levels):
                name = _reminder_template(env, level, rule.name)
                yield (
                    name,
                    f"level {level} of rule {rule.name} {case}",
                    {
                        **common,
                        **context,
                    },
                )


def _item(rule: Rule, level: int, reached: int | None = None) -> dict[str, object]:
    """One clock a reminder lists, as chase._item gives it."""
    return {
        "rule": rule.name,
        "level": level,
        "duration": str(rule.duration),
        "working_time": rule.calendar == "working",
        "started_at": AT,
        "due_at": LATER,
        "due_local": "Mon 2026-12-07 10:00 CET",
        "reached": reached if level > SITE_LEVELS else None,
    }


def _together(
    rules: Sequence[Rule], levels: int
) -> Iterator[tuple[int, dict[str, object]]]:
    """(level, values) of a mail listing every rule's clock due together, at
    the level and the one before it (deadlines/together.py)."""
    first = rules[0]
    for level in range(1, levels + 1):
        # Every other clock a level behind (its first reminder at this one),
        # and the site reached 0, 1 or 2 times about each.
        items = [
            _item(rule, max(level - n % 2, 1), reached=n % 3)
            for n, rule in enumerate(rules)
        ]
        values = dict(next(_reminder(first, level, levels))[1])
        values["items"] = items
        yield level, values


def _reminder_template(env: jinja2.Environment, level: int, rule: str) -> str:
    # As chase.template_name: a rule's own template first.
    base = f"reminder-{level}" if level <= SITE_LEVELS else "escalation"
    names = [f"{base}-{rule}.txt.j2", f"{base}.txt.j2"]
    return env.select_template(names).name or names[-1]


def _acknowledgements() -> Iterator[Sample]:
    name = "acknowledgement.txt.j2"
    base = {
        "base_subject": "Scans from 203.0.113.7",
        "greeting": "Jane Doe",
        "opened_at": AT,
        "tlp": "AMBER",
    }
    yield (
        name,
        "to a reporter",
        {
            **base,
            "site": None,
            "role": "reporter",
            "passed_over": [],
            "refused": [],
        },
    )
    yield (
        name,
        "to a site with tags passed over",
        {
            **base,
            "site": SITE,
            "role": "site",
            "passed_over": [OTHER_TAG],
            "refused": ["EGI-20991231-01"],
        },
    )
    # A CSIRT member's mail opened the incident.
    yield (
        name,
        "to a CSIRT member",
        {**base, "site": SITE, "role": "csirt", "passed_over": [], "refused": []},
    )


def _notices() -> Iterator[Sample]:
    # A site's contact, a member (mailbot's own: the setting names it), a
    # member who is a site's contact too, and a reporter (named by neither).
    refused = "550 5.1.1 no such user"
    site = [f"site {SITE}"]
    cases: tuple[tuple[str, str | None, list[str]], ...] = (
        ("", None, site),
        (refused, None, site),
        (refused, "[csirt] members", []),
        (refused, "[csirt] members", site),
        (refused, None, []),
    )
    for diagnostic, setting, sites in cases:
        yield (
            "bounce-notice.txt.j2",
            "of a bounce",
            {
                "address": CONTACTS[0],
                "status": "5.1.1",
                "diagnostic": diagnostic,
                "original_subject": f"[{TAG}] Reminder",
                "original_message_id": "<reminder-1@csirt.example.org>",
                "setting": setting,
                "sites": sites,
            },
        )
    yield "brake-alert.txt.j2", "of the brake", {"volume": 120, "limit": 100}
    for reason in ("reference", "tag", "body_tag", "new"):
        yield (
            "notify-tag.txt.j2",
            f"for the reason {reason}",
            {
                "tags": [OTHER_TAG],
                "reason": reason,
                "site": SITE,
                "sender": CONTACTS[0],
                "refused": [],
                "message_id": "<report-7@site-a.example.org>",
                "arrived_at": AT,
            },
        )
    yield (
        "notify-tag.txt.j2",
        "of a refused tag",
        {
            "tags": [],
            "reason": "new",
            "site": None,
            "sender": CONTACTS[0],
            "refused": ["EGI-20991231-01"],
            "message_id": "<report-7@site-a.example.org>",
            "arrived_at": AT,
        },
    )
    for status in ("closed", "false_positive"):
        yield (
            "notify-closed.txt.j2",
            f"of a report in an incident {status}",
            {
                "sender": CONTACTS[0],
                "status": status,
                "why": "it gives hosts new to the incident",
                "site": SITE,
                "message_id": "<report-8@site-a.example.org>",
                "arrived_at": AT,
            },
        )
    yield (
        "notify-forgery.txt.j2",
        "of a forgery",
        {
            "claimed": "member@csirt.example.org",
            "why": "no DKIM or aligned SPF pass",
            "message_id": "<forged-1@example.net>",
            "arrived_at": AT,
        },
    )
    yield (
        "notify-subaddress.txt.j2",
        "of a member's sub-address",
        {
            "sender": "member+csirt@csirt.example.org",
            "member": "member@csirt.example.org",
            "commands": ["#isolated 2026-11-30T09:30:00Z"],
            "message_id": "<sub-1@csirt.example.org>",
            "arrived_at": AT,
        },
    )


def _replies() -> Iterator[Sample]:
    member = "member@csirt.example.org"
    commands = [
        _Command("isolated", "#isolated 2026-12-04T10:10:00Z", "recorded"),
        _Command("tlp", "#tlp RED", "TLP:RED from now on"),
        _Command("close", "#close", "incident closed"),
        _Command("reopen", "#reopen", "incident reopened"),
    ]
    for count in (1, 2, 4):
        yield (
            "confirm.txt.j2",
            f"of {count} command(s)",
            {
                "member": member,
                "commands": commands[:count],
                "command": commands[0].line,
                "outcome": commands[0].outcome,
                "message_id": "<member-1@csirt.example.org>",
            },
        )
    for applied in (0, 1, 2):
        yield (
            "command-error.txt.j2",
            f"with {applied} applied",
            {
                "member": member,
                "problems": [BadCommand("#isolate tomorrow", "no such command")],
                "applied": applied,
                "usage": usage(),
                "message_id": "<member-1@csirt.example.org>",
            },
        )
    for label in (None, "GREEN"):
        yield (
            "closure-relabel.txt.j2",
            f"of a report labelled {label}",
            {
                "site": SITE,
                "label": label,
            },
        )
    for kind in ("CA", "VO"):
        yield (
            "notify-credentials.txt.j2",
            f"to a {kind}",
            {
                "kind": kind,
                "target": "EXAMPLE-CA" if kind == "CA" else "example.vo",
                "dns": ["/DC=org/DC=example/CN=Jane Doe"],
                "member": member,
            },
        )


def _digests() -> Iterator[Sample]:
    empty: dict[str, object] = {
        "open_incidents": [],
        "missed": [],
        "overdue": [],
        "due_soon": [],
        "quarantined": 0,
        "quarantine": [],
        "bouncing": [],
    }
    incident = {
        "tag": TAG,
        "site": SITE,
        "tlp": "AMBER",
        "subject": "Scans from 203.0.113.7",
        "opened_at": AT,
    }
    deadline = {
        "tag": TAG,
        "tlp": "AMBER",
        "rule": "containment",
        "site": SITE,
        "due_at": AT,
        "met_at": None,
    }
    bounced = {"address": CONTACTS[0], "status": "5.1.1", "failed_at": AT}
    full: dict[str, object] = {
        "open_incidents": [incident],
        "missed": [deadline, {**deadline, "met_at": LATER}],
        "overdue": [deadline],
        "due_soon": [{**deadline, "due_at": LATER}],
        "quarantined": 1,
        "quarantine": [{"id": 7, "stage": "parse", "reason": "no header"}],
        # A site's contact, a member who is one too, a reporter's address.
        "bouncing": [
            {**bounced, "setting": setting, "sites": sites}
            for setting, sites in (
                (None, [f"site {SITE}"]),
                ("[csirt] members", [f"site {SITE}"]),
                ("[csirt] duty_address", []),
                (None, []),
            )
        ],
    }
    times = {"day": "2026-12-07", "now": LATER, "since": AT}
    yield "digest.txt.j2", "of a quiet day", {**times, **empty}
    yield "digest.txt.j2", "of a busy day", {**times, **full}


def _reminder(
    rule: Rule, level: int, levels: int
) -> Iterator[tuple[str, dict[str, object]]]:
    """The values of chase.context for `rule` at `level`, in each case the
    wording depends on (whom the level reaches, which fields are owed)."""
    base: dict[str, object] = {
        "ngi": "NGI-A",
        "contacts": CONTACTS,
        "unreachable": [],
        "to_ngi_alone": False,
        "rule": rule.name,
        "duration": str(rule.duration),
        "working_time": rule.calendar == "working",
        "site": SITE,
        "level": level,
        "levels": levels,
        "started_at": AT,
        "due_at": LATER,
        "due_local": "Mon 2026-12-07 10:00 CET",
        "items": [_item(rule, level)],
        "missing": MISSING,
        "subject": "Scans from 203.0.113.7",
        "tlp": "AMBER",
    }
    if level > SITE_LEVELS:
        # The duty team's notice: how many reminders reached the site, and
        # which contacts that failed mailbot's configuration names too.
        base["reached"] = level - 1
        base["unreachable_own"] = []
    yield "to a site that is reached", base
    yield "with nothing owed", {**base, "missing": [], "subject": ""}
    if 1 < level <= SITE_LEVELS:
        # Whether the level before reached the site, once it left.
        yield "to a site the level before reached", {**base, "reached": 1}
        yield "to a site the level before did not reach", {**base, "reached": 0}
    if level == SITE_LEVELS:
        yield (
            "to the NGI alone",
            {
                **base,
                "unreachable": CONTACTS,
                "to_ngi_alone": True,
            },
        )
    if level > SITE_LEVELS:
        yield (
            "to the duty team, the site bouncing",
            {
                **base,
                "reached": 0,
                "unreachable": CONTACTS,
            },
        )
        yield (
            "to the duty team, a contact failing a member's too",
            {
                **base,
                "reached": 0,
                "unreachable": CONTACTS,
                "unreachable_own": [f"{CONTACTS[0]} ([csirt] members)"],
            },
        )
        yield (
            "to the duty team, the reminders failing",
            {**base, "reached": 0},
        )
        yield "to the duty team, no contact", {**base, "reached": 0, "contacts": []}
