"""The command line: `mailbot [--config PATH] [--now ISO8601] COMMAND`.

Exit status: 0 success, 2 usage or configuration error, 1 any other
failure, always with one clear line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from mailbot import __version__, build
from mailbot.cli_values import Once, given, row_id
from mailbot.clock import Clock, parse_instant
from mailbot.errors import ConfigError, MailbotError, UsageError

log = logging.getLogger("mailbot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailbot",
        description="The daemon behind a CSIRT's abuse mailbox.",
    )
    parser.add_argument(
        "--version", action="version", version=f"mailbot {__version__} ({build()})"
    )
    parser.add_argument(
        "--config",
        type=given,
        action=Once,
        help="TOML file (else $MAILBOT_CONFIG, ./mailbot.toml)",
    )
    parser.add_argument(
        "--now",
        type=given,
        action=Once,
        help="mailbot's clock for this command (ISO 8601 with zone)",
    )
    parser.add_argument(
        "--log-level", type=given, action=Once, help="DEBUG, INFO, WARNING, ERROR"
    )
    parser.add_argument(
        "--log-format",
        type=given,
        action=Once,
        help="text (default) or json: one object a line",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, configure, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        configure(sub)
    return parser


def _json_flag(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--json", action="store_true", help="print JSON on standard output"
    )


def _status_args(sub: argparse.ArgumentParser) -> None:
    _json_flag(sub)
    sub.add_argument(
        "--alive",
        action="store_true",
        help="liveness only, for a container health check: exit 0 when the"
        " database answers and a mailbot polled within three poll intervals;"
        " held mail and other matters for a person do not count, and nothing"
        " is migrated",
    )


def _status(args: argparse.Namespace) -> int:
    if args.alive:
        return _command("mailbot.alive", "command")(args)
    return _command("mailbot.commands", "status")(args)


def _no_args(_sub: argparse.ArgumentParser) -> None:
    return None


def _db_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "action", choices=["upgrade"], help="upgrade: apply the migrations"
    )


def _sweep_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--now",
        dest="sweep_now",
        type=given,
        action=Once,
        help="same as the global --now",
    )
    _json_flag(sub)


def _ingest_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("paths", nargs="+", metavar="PATH", help=".eml, mbox or Maildir")
    sub.add_argument("--backfill", action="store_true", help="record, send nothing")
    _json_flag(sub)


def _incidents_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--all", action="store_true", help="closed ones too")
    _json_flag(sub)


def _show_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("tag", metavar="TAG", help="the incident's tag or any alias")
    _json_flag(sub)


def _outbox_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "action",
        nargs="?",
        choices=["list", "settle", "retry", "drop"],
        default="list",
        help="list (the default); settle ID arrived|resend: an uncertain"
        " delivery, after checking whether it arrived; retry ID: send a failed"
        " mail again with fresh attempts, once its cause is fixed; drop ID: never"
        " send it (failed, uncertain, pending or held); each is noted in the"
        " incident's trail",
    )
    sub.add_argument("id", nargs="?", type=row_id, help="the outbox row's id")
    sub.add_argument(
        "outcome",
        nargs="?",
        choices=["arrived", "resend"],
        help="settle: what you found out about an uncertain delivery",
    )
    sub.add_argument(
        "--reason",
        metavar="TEXT",
        help="settle, retry, drop: why, for the incident's trail",
    )
    _json_flag(sub)


def _bounces_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "action",
        nargs="?",
        choices=["list", "clear"],
        default="list",
        help="list (the default): the addresses marked as failing for good;"
        " clear ADDRESS...: take the mark off, once the address works again",
    )
    sub.add_argument("addresses", nargs="*", metavar="ADDRESS")
    sub.add_argument(
        "--reason", metavar="TEXT", help="clear: why, for the incident's trail"
    )
    _json_flag(sub)


def _reextract_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("tag", nargs="?", metavar="TAG", help="one incident (any alias)")
    sub.add_argument("--all", action="store_true", help="every incident")
    _json_flag(sub)


def _quarantine_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("action", nargs="?", choices=["list", "retry"], default="list")
    sub.add_argument("id", nargs="?", type=row_id, help="the quarantined mail's id")
    _json_flag(sub)


def _deadlines_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--due-within",
        type=given,
        metavar="DURATION",
        help='only what happens within this time from now ("12h", "2d", "1w")',
    )
    _json_flag(sub)


def _sites_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("action", choices=["import"], help="import: read GOCDB XML")
    sub.add_argument("files", nargs="+", metavar="FILE", help="GOCDB XML exports")
    sub.add_argument(
        "--output",
        metavar="PATH",
        help="sites file to write or merge into (default: [sites] file of the "
        "config, else ./sites.toml); '-' prints it",
    )


def _report_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--since", type=given, help="a date (local midnight) or ISO 8601 instant"
    )
    sub.add_argument(
        "--until",
        type=given,
        help="the end of the period (default: now): a date (its whole day) or"
        " an ISO 8601 instant",
    )
    # In any letter case, as --log-format and the [logging] keys take theirs.
    sub.add_argument(
        "--format",
        type=str.lower,
        choices=["text", "csv", "json"],
        default="text",
    )


def _render_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "template",
        metavar="TEMPLATE",
        help="reminder-1, reminder-2, escalation, "
        "acknowledgement or digest (a name in the templates folder)",
    )
    sub.add_argument(
        "--incident", type=given, metavar="TAG", help="the incident to render for"
    )
    sub.add_argument(
        "--rule", type=given, help="the deadline's rule (default: the next due)"
    )


def _brake_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "action",
        nargs="?",
        choices=["release"],
        help="release: lift the brake and queue the held mails for the daemon"
        " or the next poll or sweep (a reminder to a site outside its working"
        " hours waits for the next working moment)",
    )
    _json_flag(sub)


def _demo_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--dir", type=given, help="where to keep the demo's files")
    _json_flag(sub)


def _command(module: str, name: str) -> Callable[..., int]:
    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(module), name)(args)

    return run


def _example_config(args: argparse.Namespace) -> int:
    from mailbot.config import example_text

    sys.stdout.write(example_text())
    return 0


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable]] = {
    "db": (
        "apply the migrations (db upgrade)",
        _db_args,
        _command("mailbot.commands", "db"),
    ),
    "run": (
        "the daemon: poll, sweep, send, until SIGTERM",
        _no_args,
        _command("mailbot.daemon", "run_command"),
    ),
    "poll": (
        "one pass over the mailbox, then send what it queued",
        _json_flag,
        _command("mailbot.commands", "poll"),
    ),
    "sweep": (
        "one pass over the deadlines, then send the outbox",
        _sweep_args,
        _command("mailbot.commands", "sweep"),
    ),
    "ingest": (
        "process .eml, mbox or Maildir files as if they had arrived",
        _ingest_args,
        _command("mailbot.commands", "ingest"),
    ),
    "incidents": (
        "list open incidents",
        _incidents_args,
        _command("mailbot.commands", "incidents"),
    ),
    "show": (
        "one incident with its mails, fields and deadlines",
        _show_args,
        _command("mailbot.commands", "show"),
    ),
    "outbox": (
        "mail not yet delivered; settle ID arrived|resend (uncertain), retry ID"
        " (failed), drop ID (never send it)",
        _outbox_args,
        _command("mailbot.outbox_admin", "command"),
    ),
    "bounces": (
        "contacts marked as bouncing (reminders skip them); clear ADDRESS... once"
        " they work again",
        _bounces_args,
        _command("mailbot.bounces", "command"),
    ),
    "reextract": (
        "run today's field extraction again over recorded mails (TAG or --all)",
        _reextract_args,
        _command("mailbot.reextract", "command"),
    ),
    "status": (
        "health and counts; exit 1 when unhealthy (--alive: only whether the"
        " daemon polls)",
        _status_args,
        _status,
    ),
    "quarantine": (
        "list mails that could not be processed; retry ID",
        _quarantine_args,
        _command("mailbot.commands", "quarantine"),
    ),
    "brake": (
        "the brake on automatic mail and the mails held; release queues them",
        _brake_args,
        _command("mailbot.brake_admin", "command"),
    ),
    "deadlines": (
        "forecast of the reminders: what will be sent when, to whom",
        _deadlines_args,
        _command("mailbot.deadlines.commands", "deadlines"),
    ),
    "sites": (
        "sites import FILE...: write or merge a sites file from GOCDB XML",
        _sites_args,
        _command("mailbot.sites_import", "sites"),
    ),
    "report": (
        "deadlines met and missed per site and NGI, incidents opened and closed",
        _report_args,
        _command("mailbot.report", "report_command"),
    ),
    "render": (
        "show a reminder or acknowledgement as it would be sent now (sends nothing)",
        _render_args,
        _command("mailbot.preview", "render_command"),
    ),
    "demo": (
        "the main job end to end on the shipped sample mailbox",
        _demo_args,
        _command("mailbot.demo", "demo_command"),
    ),
    "example-config": (
        "print config.example.toml, every key with its default"
        " (mailbot example-config > mailbot.toml)",
        _no_args,
        _example_config,
    ),
}


def _setup_logging(level: str | None, fmt: str | None = None) -> None:
    from mailbot import logs

    logs.from_command_line(level, fmt)


def clock_from(args: argparse.Namespace) -> Clock:
    text, name = getattr(args, "sweep_now", None) or args.now, "--now"
    if not text:
        # A bad MAILBOT_NOW was reported as --now, given nowhere.
        text, name = os.environ.get("MAILBOT_NOW"), "MAILBOT_NOW"
    if not text:
        return Clock()
    try:
        return Clock(parse_instant(text))
    except ValueError as exc:
        raise UsageError(
            name, f"{exc}; give an instant with its zone, like 2026-12-04T09:00:00Z"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    twice = getattr(args, "sweep_now", None), args.now
    if None not in twice and twice[0] != twice[1]:
        # `--now A sweep --now B` took B, silently.
        parser.error(
            f"--now given twice, {twice[1]!r} before the command and"
            f" {twice[0]!r} after it: give it once"
        )
    if args.command == "run":
        # Before the daemon's imports (half a second): a SIGHUP meanwhile
        # ended it (daemon.UNUSED_SIGNALS, which it then handles).
        for name in ("SIGHUP", "SIGUSR1", "SIGUSR2"):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    try:
        _setup_logging(args.log_level, args.log_format)
        return COMMANDS[args.command][2](args)
    except ConfigError as exc:
        from mailbot.config_env import by_variable

        # Found after the settings loaded (the templates folder, the sites
        # file, the database): a key a variable set is named as the variable.
        named = by_variable(exc, os.environ)
        print(f"mailbot: configuration error: {named}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"mailbot {args.command}: {exc}", file=sys.stderr)
        return 2
    except MailbotError as exc:
        print(f"mailbot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        from mailbot.errors import Terminated

        # 128 + the signal, as a shell reports a process the signal ended.
        return 143 if isinstance(exc, Terminated) else 130
    except BrokenPipeError:
        # The reader went away (`mailbot show TAG | head`): nothing is wrong
        # with mailbot. Point stdout at /dev/null so the exit flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - one clear line, not a traceback
        log.debug("unexpected failure", exc_info=True)
        print(
            f"mailbot: {_one_line(exc, args)} (run with --log-level DEBUG for details)",
            file=sys.stderr,
        )
        return 1


def entry() -> NoReturn:
    """`mailbot` and `python -m mailbot`: main() as the process's program.

    Its work done (or stopped), the process exits: a SIGTERM or Ctrl-C
    while Python runs its exit callbacks (the lock files' release) would
    print a traceback after the command's own last line and replace its
    exit status. They are ignored from then on.
    """
    status = main()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(status)


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """An unexpected error in one line; a database error without its SQL
    and parameters (SQLAlchemy's text of it runs over several lines)."""
    if "sqlalchemy" in sys.modules:
        from sqlalchemy.exc import DBAPIError

        if isinstance(exc, DBAPIError):
            from mailbot.db.faults import describe, unavailable

            said = describe(exc, *_database_in_use(args))
            if unavailable(exc):
                return f"database unavailable, the next run retries: {said}"
            return f"database: {type(exc).__name__}: {said}"
    return f"{type(exc).__name__}: {exc}"


def _database_in_use(args: argparse.Namespace) -> tuple[str, str | None]:
    """Where the database URL in use is set (the variable when one set it,
    as by_variable names a configuration error's key) and the role it
    connects as, read from the configuration again: the command's is gone."""
    from mailbot.config import load_settings
    from mailbot.db.faults import role_of

    try:
        found, origin = config_source(args)
        settings = load_settings(found, origin=origin, servers=False)
    except Exception:  # noqa: BLE001 - the advice without the role, no new error
        return "[database] url", None
    return settings.named("database", "url"), role_of(settings.database.url)


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def printed_whole(args: argparse.Namespace, rows: list[Any], empty: str) -> bool:
    """Print a listing's JSON (with --json) or `empty` when it has no rows;
    whether that was all there was to print."""
    if getattr(args, "json", False):
        print_json(rows)
        return True
    if not rows:
        print(empty)
        return True
    return False


def config_source(args: argparse.Namespace) -> tuple[Path | None, str]:
    """The configuration file and what named it (see config.find_config)."""
    from mailbot.config import find_config

    return find_config(args.config)
