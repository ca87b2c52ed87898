"""`mailbot sites import FILE...`: a sites file from GOCDB XML exports.

The result is written for an operator to review: warnings stand as
comments at its top, an existing file is merged (its own keys and entries
kept) and saved beside it first (PATH.bak, else PATH.bak.N: no backup is
replaced), an import that changes nothing writes nothing, and nothing is
written unless the result loads as a sites file that mailbot starts with: with a
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
from mailbot.errors import ConfigError, MailbotError, UsageError
from mailbot.gocdb import GocdbError, parse_gocdb
from mailbot.settings import Settings
from mailbot.sites import check_not_own, directory_from_dict, read_sites_toml
from mailbot.sites_merge import merge_sites, render_sites_toml

log = logging.getLogger(__name__)


def sites(args: argparse.Namespace) -> int:
    settings = _settings(args)
    output = _output(args, settings)
    documents = [_read(name) for name in args.files]
    current, existing = _existing(args, output) if output is not None else (None, {})
    own = settings.own_addresses if settings is not None else frozenset()
    imported = parse_gocdb(*documents, own=own, names=args.files)
    merged = merge_sites(existing, imported)
    text = render_sites_toml(merged)
    # Refuse to write what mailbot itself could not load (an own address
    # the kept entries of the old file give, too).
    directory = directory_from_dict(tomllib.loads(text), origin="the merged sites file")
    check_not_own(directory, own)
    for warning in merged["warnings"]:
        log.warning("GOCDB import: %s", warning)
    if output is None:
        sys.stdout.write(text)
        return 0
    summary = _summary(output, existing, imported, merged)
    if text == current:
        # Nothing to write, and no backup of a file that stays as it is.
        print(f"{summary}; the file holds that already: nothing written")
        return 0
    try:
        backup = _write(output, text)
    except OSError as exc:
        raise _unwritable(args, output, exc) from None
    saved = f"; the old file is saved as {backup}" if backup else ""
    print(
        f"{summary}; {len(merged['warnings'])} warnings written as comments at"
        f" the top: review them{saved}"
    )
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
    try:
        return load_settings(found, origin=origin, servers=False)
    except ConfigError as exc:
        # Printing (--output -) needs it too: without mailbot's own
        # addresses an export may give one as a contact, and mailbot would
        # refuse to start with the result.
        raise ConfigError(
            exc.key,
            f"{exc.problem} (`sites import` needs the configuration, with"
            " --output - too: it leaves mailbot's own addresses, [mailbot]"
            " address and aliases, out of the sites file; correct it first)",
        ) from None


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


def _existing(args: argparse.Namespace, path: Path) -> tuple[str | None, dict]:
    """The text of the sites file at `path` and its data; (None, {}) when
    there is none. One that cannot be read is a configuration error, as
    when mailbot starts with it: of --output when that named it."""
    print_it = "--output - to print the result"
    elsewhere = (
        f"give another --output, or {print_it}"
        if args.output
        else f"point sites.file at one, or give --output PATH, or {print_it}"
    )
    try:
        return read_sites_toml(path, elsewhere)
    except FileNotFoundError:
        return None, {}
    except ConfigError as exc:
        if args.output:
            raise UsageError("--output", exc.problem) from None
        raise


def _write(path: Path, text: str) -> Path | None:
    """Write `text` to `path` in one step, through a symbolic link to its
    target, keeping an existing file's mode, group and (as root) owner;
    the backup of the file replaced, if any."""
    path = Path(os.path.realpath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.stat() if path.exists() else None
    backup = None
    if old is not None:
        backup = _free_backup(path)
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
    return backup


def _free_backup(path: Path) -> Path:
    """PATH.bak, else PATH.bak.1, PATH.bak.2...: the first name not taken.
    A backup is never replaced, so the hand-written file the first import
    saved stays after the next ones."""
    backup = path.with_name(path.name + ".bak")
    number = 0
    while backup.exists() or backup.is_symlink():
        number += 1
        backup = path.with_name(f"{path.name}.bak.{number}")
    return backup


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
    before = {str(s.get("name", "")).lower(): s for s in existing.get("site", [])}
    after = {s["name"].lower(): s for s in merged["site"]}
    names = {s["name"].lower() for s in imported["site"]}
    updated = sum(after[name] != before[name] for name in names & before.keys())
    return (
        f"{path}: {len(merged['site'])} sites, {len(merged['ngi'])} NGIs"
        f" ({len(names - before.keys())} sites added, {updated} updated,"
        f" {len(names & before.keys()) - updated} unchanged,"
        f" {len(before.keys() - names)} kept that the export does not list)"
    )
