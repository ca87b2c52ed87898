"""`mailbot show TAG` for a person: who, what, when, what is missing, what is due."""

from __future__ import annotations

from typing import Any


def summary_text(data: dict[str, Any]) -> str:
    lines = [
        f"{data['tag']}  [{data['status']}]  TLP:{data['tlp']}",
        f"  subject:    {data['subject']}",
        f"  site:       {data['site'] or 'unknown'} (NGI {data['ngi'] or 'unknown'})",
    ]
    if data["aliases"]:
        lines.append(f"  aliases:    {', '.join(data['aliases'])}")
    for key in ("opened_at", "discovered_at", "isolated_at", "resolved_at"):
        if data.get(key):
            lines.append(f"  {key.removesuffix('_at') + ':':<11} {data[key]}")
    lines.append("")
    lines.append(f"Mails ({len(data['messages'])}):")
    for mail in data["messages"]:
        arrow = "->" if mail["direction"] == "out" else "<-"
        flags = f" !{','.join(mail['flags'])}" if mail["flags"] else ""
        lines.append(
            f"  {mail['date']} {arrow} {mail['role']:<10} {mail['from']}{flags}"
        )
        lines.append(f"      {mail['subject']}")
    lines.append("")
    lines.append("Fields:")
    for field, values in data["fields"].items():
        lines.append(f"  {field}: {', '.join(values)}")
    if not data["fields"]:
        lines.append("  (none yet)")
    if data["missing"]:
        lines.append(f"  missing: {', '.join(data['missing'])}")
    lines.extend(_deadlines(data["deadlines"]))
    if data["audit"]:
        lines.append("")
        lines.append("Audit trail:")
        for entry in data["audit"]:
            lines.append(
                f"  {entry['at']} {entry['actor']}: {entry['action']} {entry['detail']}"
            )
    return "\n".join(lines)


def _deadlines(deadlines: list[dict[str, Any]]) -> list[str]:
    if not deadlines:
        return []
    lines = ["", "Deadlines:"]
    for d in deadlines:
        met = f", met {d['met_at']}" if d["met_at"] else ""
        chases = f", reminders {', '.join(d['chases'])}" if d["chases"] else ""
        lines.append(
            f"  {d['rule']:<15} {d['site'] or '-':<14} due {d['due_at']} "
            f"{d['state']}{met}{chases}"
        )
    return lines
