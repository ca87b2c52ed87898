"""`mailbot brake`: the brake, the mails held by it or by the caps, and
their release (brake.py decides and keeps them)."""

from __future__ import annotations

from mailbot import brake
from mailbot.cli import print_json
from mailbot.commands import app_from


def command(args: object) -> int:
    """`mailbot brake [release] [--json]`: show the brake and held mails."""
    # Released mail is sent by the daemon, or the next poll or sweep.
    app = app_from(args, servers=False)  # type: ignore[arg-type]
    released = withdrawn = None
    try:
        if getattr(args, "action", None) == "release":
            released, withdrawn = brake.release(app)
        data = brake.state(app)
    finally:
        app.close()
    if released is not None:
        data["released"], data["withdrawn"] = released, withdrawn
    if getattr(args, "json", False):
        print_json(data)
        return 0
    engaged = data["engaged_at"]
    print(f"brake engaged since {engaged}" if engaged else "brake not engaged")
    if data["held"]:
        # A header, as `outbox` and `incidents` print one.
        print(f"{'ID':>6} {'PURPOSE':<24} TO: REASON HELD")
    for row in data["held"]:  # type: ignore[attr-defined]
        to = ", ".join(row["to"])
        print(f"{row['id']:>6} {row['purpose']:<24} {to}: {row['reason']}")
    if released == 0 and not withdrawn:
        print("no mail was held: nothing to release")
    elif released is not None:
        print(
            f"released {released} held mail(s): the daemon, or the next poll or"
            " sweep, sends them (`mailbot outbox` shows when each leaves)"
        )
    if withdrawn:
        print(
            f"withdrew {withdrawn} held mail(s) whose reason is gone (a clock met,"
            " an incident closed): `mailbot outbox` shows why"
        )
    return 0
