"""`mailbot show TAG` for a person: who, what, when, what is missing, what is due.

Works on the data `views.show` returns (the same as `show --json`), so the
two never disagree; `now` turns due times into "in 3 h" or "overdue 2 h".
"""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

from mailbot import compose
from mailbot.clock import parse_instant
from mailbot.extract.prose import WRAPPED_PIECE

_PEOPLE_ROLES = ("site", "reporter", "csirt")


def summary_text(data: dict[str, Any], now: dt.datetime | None = None) -> str:
    lines = [
        f"{data['tag']}  [{data['status']}]  TLP:{data['tlp']}",
        f"  {data['subject'] or '(no subject)'}",
    ]
    if data["aliases"]:
        lines.append(f"  also known as {', '.join(data['aliases'])}")
    lines += _who(data)
    lines += _when(data)
    lines += _what(data)
    lines += _due_next(data["deadlines"], now)
    lines += _deadlines(data["deadlines"])
    lines += _mails(data["messages"])
    lines += _audit(data["audit"])
    return "\n".join(lines)


def _who(data: dict[str, Any]) -> list[str]:
    sites = data.get("sites") or ([data["site"]] if data["site"] else [])
    lines = ["", "Who:"]
    site = data["site"] or "unknown"
    lines.append(f"  {'site:':<15} {site} (NGI {data['ngi'] or 'unknown'})")
    others = [s for s in sites if s != data["site"]]
    if others:
        lines.append(f"  {'other sites:':<15} {', '.join(others)}")
    for role in _PEOPLE_ROLES:
        senders = list(
            dict.fromkeys(
                m["from"]
                for m in data["messages"]
                if m["role"] == role and m["direction"] == "in" and m["from"]
            )
        )
        if senders:
            lines.append(f"  {'from ' + role + ':':<15} {', '.join(senders)}")
    return lines


def _when(data: dict[str, Any]) -> list[str]:
    lines = ["", "When:"]
    for key in ("opened_at", "discovered_at", "isolated_at", "resolved_at"):
        value = data.get(key)
        lines.append(f"  {key.removesuffix('_at') + ':':<11} {value or '-'}")
    return lines


# A field's values shown one a line from this many on, or when any is
# prose; at most _SHOWN of them, each cut at _ITEM characters (--json has
# them all, whole).
_SHOWN = 20
_ITEM = 300


def _what(data: dict[str, Any]) -> list[str]:
    lines = ["", "What (Analysis Guideline fields):"]
    for field, values in data["fields"].items():
        if field == "evidence":
            values = dated(values, data.get("provenance") or [])
        if all(" " not in v and len(v) <= 80 for v in values):
            # Addresses, names, DNs, CVE ids: a paragraph reads best.
            text = textwrap.fill(
                ", ".join(values[: _SHOWN * 5]),
                width=78,
                initial_indent=f"  {field}: ",
                subsequent_indent="    ",
                break_on_hyphens=False,
                break_long_words=False,
            )
            lines.extend(text.splitlines())
            if len(values) > _SHOWN * 5:
                lines.append(
                    f"    ... {len(values) - _SHOWN * 5} more (show --json lists all)"
                )
            continue
        lines.append(f"  {field}:")
        for value in values[:_SHOWN]:
            cut = value if len(value) <= _ITEM else value[: _ITEM - 1] + "\u2026"
            lines.append(f"    - {cut}")
        if len(values) > _SHOWN:
            lines.append(f"    ... {len(values) - _SHOWN} more (show --json lists all)")
    if not data["fields"]:
        lines.append("  (nothing reported yet)")
    missing = ", ".join(data["missing"]) if data["missing"] else "nothing"
    lines.append(f"  still missing: {missing}")
    return lines


# A line a mail client wrapped is one item whose pieces are each at least
# WRAPPED_PIECE long: an item of N characters spans at most
# N // WRAPPED_PIECE + 1 lines from the one it is recorded at.


def dated(values: list[str], provenance: list[dict[str, Any]]) -> list[str]:
    """Evidence with its times: "[2026-11-30T08:02:11Z] sshd accepted ...".

    A time read on a line of an evidence item (the item's own line, or a
    line its wrapped text went on to) goes in front of it, in UTC, and is
    not listed again on its own; a time of no item's line stays an item.
    """
    items: dict[tuple[Any, ...], list[tuple[int, str]]] = {}
    stamps: list[tuple[tuple[Any, ...], int, str]] = []
    for p in provenance:
        if p["field"] != "evidence":
            continue
        where = (p["message_id"], p["part"])
        if p["kind"] == "timestamp":
            stamps.append((where, p["line"], p["value"]))
        elif p["kind"] == "text":
            items.setdefault(where, []).append((p["line"], p["value"]))
    times: dict[str, list[str]] = {}
    loose: set[str] = set()
    for where, line, stamp in stamps:
        owner = _item_of(items.get(where, []), line)
        if owner is None:
            loose.add(stamp)
        else:
            times.setdefault(owner, []).append(stamp)
    folded = {stamp for found in times.values() for stamp in found} - loose
    shown = []
    for value in values:
        if value in folded:
            continue  # in front of the item(s) of its line
        if value in times:
            value = f"[{', '.join(dict.fromkeys(times[value]))}] {value}"
        shown.append(value)
    return shown


def _item_of(items: list[tuple[int, str]], line: int) -> str | None:
    """The evidence item that `line` belongs to, of a part's `items`."""
    best = None
    for start, text in items:
        if start <= line <= start + len(text) // WRAPPED_PIECE and (
            best is None or start > best[0]
        ):
            best = (start, text)
    return best[1] if best else None


# What several deadlines of one rule are, in "Due next".
_KINDS = {"analysis": "requests"}


def _due_next(deadlines: list[dict[str, Any]], now: dt.datetime | None) -> list[str]:
    waiting = sorted(
        (
            d
            for d in deadlines
            if d["met_at"] is None and d["state"] in ("pending", "missed")
        ),
        key=lambda d: d["due_at"],
    )
    lines = ["", "Due next:"]
    if not waiting:
        return [*lines, "  nothing is owed"]
    # Requests of one rule due at one moment are reminded of in one mail:
    # one line says how many, the Deadlines list has each.
    same: dict[tuple[str, str | None, str], list[dict[str, Any]]] = {}
    for d in waiting:
        same.setdefault((d["rule"], d["site"], d["due_at"]), []).append(d)
    for (rule, site, due_at), together in same.items():
        chases = sum(len(d["chases"]) for d in together)
        count = len(together)
        lines.append(
            f"  {rule:<15} {site or '-':<14} due {due_at}{_relative(due_at, now)}"
            + (f", {count} {_KINDS.get(rule, 'deadlines')}" if count > 1 else "")
            + (f", {chases} reminder(s) sent" if chases else "")
        )
    return lines


def _relative(due_at: str, now: dt.datetime | None) -> str:
    if now is None:
        return ""
    delta = parse_instant(due_at) - now
    if delta.total_seconds() >= 0:
        return f" (in {_span(delta)})"
    return f" (OVERDUE by {_span(-delta)})"


def _span(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _deadlines(deadlines: list[dict[str, Any]]) -> list[str]:
    if not deadlines:
        return ["", "Deadlines: none started yet"]
    lines = ["", "Deadlines:"]
    for d in deadlines:
        met = f", met {d['met_at']}" if d["met_at"] else ""
        chases = f", reminders {', '.join(d['chases'])}" if d["chases"] else ""
        lines.append(
            f"  {d['rule']:<15} {d['site'] or '-':<14} due {d['due_at']} "
            f"{d['state']}{met}{chases}"
        )
    return lines


def _mails(messages: list[dict[str, Any]]) -> list[str]:
    lines = ["", f"Mails ({len(messages)}):"]
    for mail in messages:
        arrow = "->" if mail["direction"] == "out" else "<-"
        flags = f" !{','.join(mail['flags'])}" if mail.get("flags") else ""
        lines.append(
            f"  {mail['date']} {arrow} {mail['role']:<10} {mail['from']}{flags}"
            f"  (mail {mail['id']})"
        )
        # A sender's subject may be 200 kB: `show --json` has it whole.
        lines.append(f"      {compose.short_subject(mail['subject'] or '')}")
        unsent = _unsent(mail)
        if unsent:
            lines.append(f"      {unsent}")
        for attachment in mail.get("attachments", [])[:10]:
            name = compose.short_subject(attachment["name"])
            unread = (
                ", not read: over limits.max_attachment_bytes"
                if attachment.get("read") is False
                else ""
            )
            lines.append(
                f"      attachment: {name} ({attachment['content_type']},"
                f" {attachment['size']} bytes{unread})"
            )
        if len(mail.get("attachments", [])) > 10:
            more = len(mail["attachments"]) - 10
            lines.append(f"      ... {more} more attachments (show --json lists all)")
    return lines


# What an outgoing mail's outbox state says about its delivery, when it
# was not sent: the site never got a mail withdrawn, failed or waiting.
_UNSENT = {
    "withdrawn": "WITHDRAWN, never sent",
    "dropped": "DROPPED by the operator, never sent",
    "failed": "NOT SENT: delivery failed",
    "uncertain": "delivery uncertain: the server took it but never answered",
    "held": "not sent yet: held by the brake",
    "pending": "not sent yet: in the outbox",
    "sending": "not sent yet: being sent",
}


def _unsent(mail: dict[str, Any]) -> str | None:
    """The line marking an outgoing mail that did not leave, else None."""
    what = _UNSENT.get(mail.get("delivery") or "")
    if what is None:
        return None
    note = mail.get("delivery_note")
    return f"{what} ({compose.short_subject(note)})" if note else what


def _audit(audit: list[dict[str, Any]]) -> list[str]:
    if not audit:
        return ["", "Audit trail: empty"]
    lines = ["", "Audit trail:"]
    for entry in audit:
        detail = f" {entry['detail']}" if entry["detail"] else ""
        lines.append(f"  {entry['at']} {entry['actor']}: {entry['action']}{detail}")
        if entry.get("message_id"):
            lines.append(f"      mail {entry['message_id']}")
    return lines
