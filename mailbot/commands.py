"""The commands that work on the database, one function each."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import sys
import unicodedata
from pathlib import Path

from mailbot import logs, send, service, views
from mailbot.app import App, open_app
from mailbot.cli import clock_from, config_source, print_json
from mailbot.cli_values import fits_id
from mailbot.config import load_settings
from mailbot.errors import MailbotError, UsageError
from mailbot.fetch import PollResult

log = logging.getLogger(__name__)


def app_from(
    args: argparse.Namespace, *, servers: bool = True, **kwargs: object
) -> App:
    """The App a command runs with. A command that reaches neither the
    mailbox nor the SMTP server says `servers=False`: it then runs where
    their password files cannot be read (load_settings)."""
    path, origin = config_source(args)
    settings = load_settings(path, origin=origin, servers=servers)
    logs.from_settings(
        settings, getattr(args, "log_level", None), getattr(args, "log_format", None)
    )
    return open_app(settings, clock_from(args), **kwargs)


def stop_on_sigterm() -> None:
    """For the one-shot commands that send mail (poll, sweep, ingest,
    quarantine retry): SIGTERM (a cron job's timeout, a service manager)
    stops the command like Ctrl-C, so that a mail being sent goes back to
    the outbox, or is uncertain, at once (send.claim.interrupted) instead of
    staying "sending" until its lease runs out."""
    import signal
    import threading

    from mailbot.errors import Terminated

    def terminate(signum: int, _frame: object) -> None:
        raise Terminated(f"signal {signum}")

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, terminate)


def collect_garbage_less_often() -> None:
    """For the commands that take mail in bulk: poll, ingest and run.

    At Python's default (a collection every 700 new container objects) the
    cycle collector ran about 1,100 times over an ingest of 1,000 generated
    mails, nine times over the whole heap (SQLAlchemy, the extractor's line
    caches): 0.9 s of its 15 s of CPU (bench/ingest.py mix). Every 10,000 it
    runs about 50 times, none over the whole heap, 0.2 s, for 1 to 2 MB more
    at the peak. Reference counting frees everything else as before.
    """
    gc.set_threshold(10_000, 10, 10)


def db(args: argparse.Namespace) -> int:
    app = app_from(args, servers=False)
    from mailbot.db.engine import current_revision

    print(f"database at revision {current_revision(app.settings.database.url)}")
    app.close()
    return 0


def poll(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    collect_garbage_less_often()
    app = app_from(args)
    try:
        result = service.poll(app)
        outage = delivery_outage(app)
    finally:
        app.close()
    _report(args, result.counts())
    _fail_on_configuration("poll", result)
    return _fail_on(outage)


def sweep(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    app = app_from(args)
    try:
        from mailbot.deadlines.sweep import sweep as sweep_deadlines

        summary = sweep_deadlines(app)
        delivered = send.deliver_due(app)
        outage = delivery_outage(app)
    finally:
        app.close()
    _report(args, {**summary, "delivered": vars(delivered)})
    return _fail_on(outage)


def ingest(args: argparse.Namespace) -> int:
    from mailbot.ahead import read_ahead
    from mailbot.fetch.files import Unreadable, check_path, iter_path
    from mailbot.process import process_delivery

    unreadable: list[Unreadable] = []

    def report(problem: Unreadable) -> None:
        # Said at once, and again in the closing line; the rest is read.
        unreadable.append(problem)
        log.error("%s %s; skipped", problem.path, problem.reason)

    given = [Path(p).expanduser() for p in args.paths]
    for path in given:
        check_path(path)
    # Absolute, so that a file ingested again by another spelling of its
    # path is known as the same delivery (already stored, no duplicate). A
    # broken link stays as given: it is reported, under the name given.
    paths = [p if _broken_link(p) else p.resolve() for p in given]
    from mailbot.progress import Progress, count_mails

    stop_on_sigterm()
    collect_garbage_less_often()
    app = app_from(args, backfill=args.backfill)
    result = PollResult()
    try:
        total = sum(count_mails(p) for p in paths)
        # Under --now the files' times are of the real clock, not the command's.
        until = app.clock.now() if app.clock.is_fixed else None
        deliveries = (d for path in paths for d in iter_path(path, report, until))
        with Progress(total, label="ingest") as progress:
            for delivery in read_ahead(app, deliveries, total):
                outcome = process_delivery(app, delivery)
                result.add(outcome)
                progress.update()
        outage = None
        if not args.backfill:
            send.deliver_due(app)
            outage = delivery_outage(app)
    finally:
        app.close()
    data = result.counts()
    if getattr(args, "json", False):
        data["unreadable"] = [
            {"path": str(u.path), "reason": u.reason} for u in unreadable
        ]
    else:
        data["unreadable"] = len(unreadable)
    _report(args, data)
    _fail_on_configuration("ingest", result)
    if unreadable:
        raise MailbotError(
            f"ingest: {len(unreadable)} path(s) could not be read and were"
            " skipped (each is named above with what to do); the rest was"
            " ingested. Ingest them again once readable: a mail stored already"
            " is not stored twice"
        )
    return _fail_on(outage)


def delivery_outage(app: App) -> str | None:
    """What kept a one-shot command's mail from leaving, with what to do,
    when the SMTP server was still not taking mail at the end of its pass;
    else None. The mail waits in the outbox either way."""
    from sqlalchemy import func, select

    from mailbot.db.models import Outbox

    problem = app.outages.current().get("smtp")
    if problem is None:
        return None
    with app.db.transaction() as session:
        waiting = session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.state.in_(("pending", "sending")))
        )
    advice = "" if "check" in problem else "; check the SMTP server and [smtp] settings"
    return (
        f"the SMTP server is not taking mail: {problem}{advice}. {waiting} mail(s)"
        " wait in the outbox (`mailbot outbox` lists them) and leave with the"
        " next `mailbot poll` or `mailbot sweep` (or the running daemon) once"
        " it takes mail"
    )


def _fail_on(outage: str | None) -> int:
    """After a command's counts: exit 1 with one line when mail could not
    be delivered for an SMTP outage, else 0."""
    if outage is None:
        return 0
    raise MailbotError(outage)


def _fail_on_configuration(command: str, result: PollResult) -> None:
    """Exit 1 with one line when mails were set aside in this run for a
    fault of the configuration (a template): each mail would meet it, and
    the counts alone read as a pass that went well. The mails are the new
    ones and those of earlier passes retried now; a mail still held from an
    earlier pass, not retried in this one, is no fault found now. Bad mail
    alone is no failure."""
    new, retried = result.misconfigured, result.retried_misconfigured
    if not new and not retried:
        return
    if not retried:
        which = f"{len(new)} of {result.fetched} mail(s) were set aside"
    elif not new:
        which = (
            f"{len(retried)} mail(s) of an earlier pass, retried, were set aside again"
        )
    else:
        which = (
            f"{len(new)} of {result.fetched} mail(s), and {len(retried)} of an"
            " earlier pass retried, were set aside"
        )
    faults = list(dict.fromkeys([*new, *retried]))
    others = f" ({len(faults) - 1} other fault(s) too)" if len(faults) > 1 else ""
    raise MailbotError(
        f"{command}: {which} for a fault of the configuration, not of the mail:"
        f" {faults[0]}{others}. Once it is corrected, `mailbot quarantine` lists"
        " them and `mailbot quarantine retry ID` takes each again"
    )


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def incidents(args: argparse.Namespace) -> int:
    app = app_from(args, servers=False)
    try:
        rows = views.incident_list(app, all_=args.all)
    finally:
        app.close()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no open incidents" if not args.all else "no incidents")
        return 0
    # On a terminal (or with COLUMNS set) the subject fills what is left of
    # the width, cut with an ellipsis; piped, it is printed whole for grep.
    # `show TAG` and --json give it whole too.
    site_width = max([16, *(len(str(row["site"] or "-")) for row in rows)])
    room = None
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        width = shutil.get_terminal_size((120, 24)).columns
        room = max(width - (18 + 14 + 12 + site_width + 4), 12)
    print(f"{'TAG':<18} {'STATUS':<14} {'TLP':<12} {'SITE':<{site_width}} SUBJECT")
    for row in rows:
        subject = " ".join(str(row["subject"]).split())
        print(
            f"{row['tag']:<18} {row['status']:<14} {row['tlp']:<12} "
            f"{row['site'] or '-':<{site_width}} {_fit(subject, room)}"
        )
    return 0


def _fit(text: str, room: int | None) -> str:
    """`text` cut to `room` terminal columns (wide characters take two)."""
    widths = [2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text]
    if room is None or sum(widths) <= room:
        return text
    used = 0
    for index, width in enumerate(widths):
        # One column stays free for the ellipsis.
        if used + width > room - 1:
            return text[:index] + "\u2026"
        used += width
    return text


def show(args: argparse.Namespace) -> int:
    app = app_from(args, servers=False)
    try:
        data = views.show(app, args.tag)
    finally:
        app.close()
    if data is None:
        from mailbot.incidents import unknown

        raise MailbotError(unknown(args.tag))
    if args.json:
        print_json(data)
    else:
        from mailbot.summary import summary_text

        print(summary_text(data, app.clock.now()))
    return 0


def status(args: argparse.Namespace) -> int:
    try:
        app = app_from(args, servers=False)
    except MailbotError as exc:
        if args.json:
            # A monitor reads the verdict on stdout, whatever stopped it: a
            # database it cannot use, one of a newer mailbot, a bad setting.
            print_json({"healthy": False, "problems": [str(exc)], "warnings": []})
        raise
    try:
        data = views.status(app, service.last_poll(app))
    finally:
        app.close()
    if args.json:
        print_json(data)
    else:
        from mailbot.health import status_text

        print(status_text(data))
    if not data["healthy"]:
        print("mailbot: unhealthy: " + "; ".join(data["problems"]), file=sys.stderr)
        return 1
    return 0


def quarantine(args: argparse.Namespace) -> int:
    stop_on_sigterm()
    if args.action == "list" and args.id is not None:
        # It listed them all, the ID ignored; `outbox list ID` is refused.
        raise UsageError("list", "takes no ID; `quarantine retry ID` does")
    # Only a retry sends (its acknowledgement, at once).
    app = app_from(args, servers=args.action == "retry")
    try:
        if args.action == "retry":
            return _retry(app, args)
        rows = views.quarantine_list(app)
    finally:
        app.close()
    if args.json:
        print_json(rows)
        return 0
    if rows:
        # A header, as `outbox` and `incidents` print one.
        print(f"{'ID':>6} {'ARRIVED':<20} {'STAGE':<9} REASON  [ORIGIN]")
    for row in rows:
        print(
            f"{row['id']:>6} {row['arrived_at'] or '-':<20} {row['stage']:<9}"
            f" {row['reason']}  [{row['origin']}]"
        )
    if not rows:
        print("quarantine is empty")
    return 0


def _retry(app: App, args: argparse.Namespace) -> int:
    from mailbot.db.models import Mail
    from mailbot.process import process_stored

    if args.id is None:
        raise UsageError("ID", "quarantine retry needs the id that `quarantine` lists")
    with app.db.transaction() as session:
        mail = session.get(Mail, args.id) if fits_id(args.id) else None
        if mail is None or mail.state != "quarantined":
            raise MailbotError(f"mail {args.id} is not in quarantine")
        mail.state = "received"
        raw = mail.raw
    outcome = process_stored(app, args.id, raw)
    send.deliver_due(app)
    data = {
        "id": args.id,
        "result": outcome.result,
        "incident": outcome.incident,
        "reason": outcome.reason,
    }
    if outcome.result in ("duplicate", "refetched") and outcome.mail_id is not None:
        data.update(_copy_of(app, outcome.mail_id))
    _report(args, data)
    # A copy of a stored mail is in the record all the same: nothing was
    # lost, and its quarantine entry is gone. Quarantined again, the log
    # line on stderr says why. Processed, but its acknowledgement kept in
    # the outbox by an SMTP outage: a failure, as for `poll`.
    if outcome.result == "quarantined":
        return 1
    return _fail_on(delivery_outage(app))


def _copy_of(app: App, mail_id: int) -> dict:
    """The stored mail a retried one turned out to be a copy of."""
    from mailbot.db.models import Incident, Mail

    with app.db.transaction() as session:
        mail = session.get(Mail, mail_id)
        assert mail is not None
        incident = session.get(Incident, mail.incident_id) if mail.incident_id else None
        tag = incident.tag if incident else None
        message_id = mail.message_id or "(no Message-ID)"
    where = f" in {tag}" if tag else ""
    return {
        "incident": tag,
        "reason": f"a copy of mail {mail_id} {message_id}{where}, stored already:"
        " counted as a duplicate, out of quarantine",
        "copy_of": mail_id,
    }


def _report(args: argparse.Namespace, data: dict) -> None:
    if getattr(args, "json", False):
        print_json(data)
    else:
        print(", ".join(f"{k}: {v}" for k, v in data.items()))
