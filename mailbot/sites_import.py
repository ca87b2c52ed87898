"""`mailbot sites import FILE...`: a sites file from GOCDB XML exports.

The result is written for an operator to review: warnings stand as
comments at its top, an existing file is merged (its own keys and entries
kept) and saved beside it as PATH.bak first, and nothing is written unless
the result loads as a sites file that mailbot starts with: with a
configuration found, mailbot's own addresses are left out of the export
(gocdb.py) and refused in what the old file keeps.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import stat
import sys
import tomllib
from pathlib import Path

from mailbot import gocdb
from mailbot.errors import MailbotError, UsageError
from mailbot.gocdb import GocdbError, merge_sites, parse_gocdb, render_sites_toml
from mailbot.settings import Settings
from mailbot.sites import check_not_own, directory_from_dict

log = logging.getLogger(__name__)


def sites(args: argparse.Namespace) -> int:
    settings = _settings(args)
    output = _output(args, settings)
    documents = [_read(name) for name in args.files]
    existing = _existing(output) if output is not None else {}
    own = settings.own_addresses if settings is not None else frozenset()
    imported = parse_gocdb(*documents, own=own, names=args.files)
    merged = merge_sites(existing, imported)
    text = render_sites_toml(merged)
    # Refuse to write what mailbot itself could not load (an own address
    # the kept entries of the old file give, too).
    directory = directory_from_dict(tomllib.loads(text), origin="the merged sites file")
    check_not_own(directory, own)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            _write(output, text)
        except OSError as exc:
            raise _unwritable(args, output, exc) from None
        print(_summary(output, existing, imported, merged))
    return 0


def _unwritable(args: argparse.Namespace, output: Path, exc: OSError) -> MailbotError:
    """The error for a sites file that cannot be written: the path asked
    for, not the temporary file or backup beside it, and what to do."""
    reason = exc.strerror or str(exc)
    fix = (
        f"give a path in a folder the user mailbot runs as can write files in"
        f" ({output.parent} is not one), or --output - to print it"
    )
    if args.output:
        return UsageError("--output", f"cannot write {output} ({reason}): {fix}")
    return MailbotError(
        f"cannot write the sites file {output} ([sites] file; {reason}): {fix}"
    )


def _read(name: str) -> bytes:
    # Path("") is the current folder: an empty name would read that.
    if not name:
        raise UsageError("FILE", "is empty: give the path of a GOCDB XML export")
    path = Path(name)
    try:
        with path.open("rb") as stream:
            # One byte past the limit tells a file over it: /dev/zero or a
            # runaway export is never read whole.
            document = stream.read(gocdb.MAX_DOCUMENT_BYTES + 1)
    except OSError as exc:
        raise UsageError("FILE", f"cannot read {path}: {exc.strerror}") from None
    if len(document) > gocdb.MAX_DOCUMENT_BYTES:
        raise GocdbError(f"{path}: the export is over {gocdb.MAX_DOCUMENT_BYTES} bytes")
    return document


def _settings(args: argparse.Namespace) -> Settings | None:
    """The configuration, when one is found: its sites file is the default
    output, and its own addresses may be no contact of the result."""
    from mailbot.cli import config_source
    from mailbot.config import load_settings

    found, origin = config_source(args)
    if found is None:
        return None
    return load_settings(found, origin=origin, servers=False)


def _output(args: argparse.Namespace, settings: Settings | None) -> Path | None:
    if args.output == "-":
        return None
    if args.output == "":
        # Path("") would be the current folder, and leaving it out means
        # the configured sites file: neither is what an empty value asks.
        raise UsageError(
            "--output",
            "is empty: give the sites file's path, - to print it, or leave"
            " --output out for the configured [sites] file",
        )
    if args.output:
        return Path(args.output)
    if settings is None:
        return Path("sites.toml")
    return settings.path(settings.sites.file)


def _existing(path: Path) -> dict:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MailbotError(f"cannot read the sites file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise MailbotError(
            f"{path} is not valid TOML ({exc}); fix it or choose another --output"
        ) from None


def _write(path: Path, text: str) -> None:
    """Write `text` to `path` in one step, through a symbolic link to its
    target, keeping an existing file's mode, group and (as root) owner."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat() if path.exists() else None
    if old is not None:
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
        _keep_owner(backup, old)
        log.info("sites file %s saved as %s", path, backup)
    # Write beside the target and rename, so a reader never sees half a
    # file; a new file gets the mode the umask gives, as any other.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        if old is not None:
            os.chmod(temporary, stat.S_IMODE(old.st_mode))
            _keep_owner(temporary, old)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _keep_owner(path: Path, old: os.stat_result) -> None:
    """Give `path` the owner (as root) and group of the file `old` was:
    the daemon may run as another user, reading the file by its group."""
    owner = old.st_uid if os.geteuid() == 0 else -1
    try:
        os.chown(path, owner, old.st_gid)
    except PermissionError:
        # Not root, and not a member of the file's group: it stays ours.
        log.warning(
            "%s: could not give it the group %d of the file it replaces",
            path,
            old.st_gid,
        )


def _summary(path: Path, existing: dict, imported: dict, merged: dict) -> str:
    before = {str(s.get("name", "")).lower() for s in existing.get("site", [])}
    names = {s["name"].lower() for s in imported["site"]}
    added = len(names - before)
    kept = len(before - names)
    return (
        f"{path}: {len(merged['site'])} sites, {len(merged['ngi'])} NGIs "
        f"({added} sites added, {len(names & before)} updated, {kept} kept "
        f"that the export does not list); {len(merged['warnings'])} warnings "
        "written as comments at the top: review them"
    )
