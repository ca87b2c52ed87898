"""Settings: one TOML file, overridden by MAILBOT_<SECTION>_<KEY> variables.

Every key is parsed once into frozen, typed objects. A bad or missing value
raises ConfigError naming the key; the command line turns that into exit 2.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mailbot import toml_text
from mailbot.config_env import (
    Texts,
    apply_environment,
    by_variable,
    nearest,
    variable,
)
from mailbot.config_section import (
    Section,
    filled,
    one_address,
    positive,
    valid_port,
    valid_zone,
)
from mailbot.connection import check_outbox_maildir, tls_context
from mailbot.errors import ConfigError
from mailbot.settings import (
    LOG_LEVELS,
    TLS_MODES,
    BrakeSettings,
    CsirtSettings,
    DatabaseSettings,
    DigestSettings,
    ImapSettings,
    IntakeSettings,
    LimitsSettings,
    LoggingSettings,
    MailbotSettings,
    MaildirSettings,
    MetricsSettings,
    Settings,
    SitesSettings,
    SmtpSettings,
    SourceSettings,
    TemplatesSettings,
)


def find_config(explicit: str | None) -> tuple[Path | None, str]:
    """--config, else $MAILBOT_CONFIG, else ./mailbot.toml when it exists.

    With the file comes what named it, for errors to point at.
    """
    if explicit:
        return Path(explicit), "--config"
    if os.environ.get("MAILBOT_CONFIG"):
        return Path(os.environ["MAILBOT_CONFIG"]), "MAILBOT_CONFIG"
    default = Path("mailbot.toml")
    return (default if default.exists() else None), "--config"


def load_settings(
    path: Path | None,
    environ: Mapping[str, str] | None = None,
    *,
    origin: str = "--config",
    servers: bool = True,
) -> Settings:
    """Read the file at `path` (or nothing) and apply the environment.

    `origin` is what named the file (--config or MAILBOT_CONFIG): an error
    reading it names that, the place to correct. With `servers` false (a
    command that reaches neither the mailbox nor the SMTP server), the IMAP
    and SMTP password files are not read, so that it runs where they are
    readable only by the daemon's user; their passwords are then empty.
    """
    data: dict[str, Any] = {}
    if path is not None:
        data = _read_file(path, origin)
    _check_sections(data)
    data, texts = apply_environment(
        data, os.environ if environ is None else environ, _KNOWN_SECTIONS
    )
    _check_sections(data)
    base_dir = path.resolve().parent if path is not None else Path.cwd()
    if path is None and "address" not in data.get("mailbot", {}):
        # Nothing configured at all: say where a configuration is looked for.
        raise ConfigError(
            "--config",
            "no configuration found: give --config FILE, set MAILBOT_CONFIG, or"
            f" put a mailbot.toml in {Path.cwd()} (`mailbot example-config`"
            " prints one with every key)",
        )
    try:
        return _build(data, base_dir, texts, servers)
    except ConfigError as exc:
        named = by_variable(exc, _variables(texts))
        if named is exc:
            raise
        raise named from None


def _variables(texts: Texts) -> frozenset[str]:
    """The MAILBOT_ variables that set a key."""
    return frozenset(variable(s, k) for s, keys in texts.items() for k in keys)


def _read_file(path: Path, origin: str) -> dict[str, Any]:
    text = ""
    try:
        text = path.read_text(encoding="utf-8")
        return tomllib.loads(text)
    except FileNotFoundError:
        problem = (
            f"{path} does not exist: write one (`mailbot example-config >"
            f" {path}` gives every key with its default; set at least"
            " [mailbot] address), or point it at the configuration file"
        )
    except IsADirectoryError:
        problem = f"{path} is a directory: point it at the TOML file itself"
    except PermissionError as exc:
        problem = (
            f"{path} cannot be read ({exc.strerror}): make it readable by the"
            " user mailbot runs as"
        )
    except UnicodeDecodeError as exc:
        problem = (
            f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}):"
            " save it as UTF-8"
        )
    except tomllib.TOMLDecodeError as exc:
        problem = toml_text.problem(path, text, exc)
    raise ConfigError(origin, problem)


# Sections read by the modules they configure (deadlines), not by a builder
# here: they check their own keys.
_OTHER_SECTIONS = frozenset({"rules", "chase"})


def _check_sections(data: Mapping[str, Any]) -> None:
    """A typo in a section's name is an error, not a setting silently lost."""
    for name in data:
        if name not in _KNOWN_SECTIONS:
            raise ConfigError(
                name,
                f"is no section of mailbot's{nearest(name, _KNOWN_SECTIONS)}"
                " (config.example.toml lists them)",
            )


# The secrets only a connection to the mailbox or the SMTP server uses.
_SERVER_SECRETS = {"imap": frozenset({"password"}), "smtp": frozenset({"password"})}


def _build(
    data: Mapping[str, Any], base_dir: Path, texts: Texts, servers: bool = True
) -> Settings:
    sections = {
        n: Section(
            data,
            n,
            base_dir,
            texts,
            frozenset() if servers else _SERVER_SECRETS.get(n, frozenset()),
        )
        for n in _SECTION_BUILDERS
    }
    built = {name: build(sections[name]) for name, build in _SECTION_BUILDERS.items()}
    for section in sections.values():
        section.check_unread()
    environment = {name: frozenset(keys) for name, keys in texts.items()}
    settings = Settings(**built, base_dir=base_dir, raw=data, environment=environment)
    if settings.source.kind == "imap" and not (settings.imap.host or "").strip():
        raise ConfigError("imap.host", "is required when [source] kind is imap")
    if servers:
        # A CA file that cannot be used fails at start, not at a connection.
        for name, ca_file in (
            ("imap", settings.imap.ca_file),
            ("smtp", settings.smtp.ca_file),
        ):
            if ca_file is not None:
                tls_context(ca_file, name)
        # So is a Maildir outbox that cannot be written (a file, /proc).
        if settings.smtp.kind == "maildir":
            check_outbox_maildir(settings.path(settings.smtp.path))
    _check_not_own(settings)
    return settings


def own_address_problem(address: str, own: frozenset[str], whom: str) -> str | None:
    """Why `address`, one mailbot sends to, may not be one of mailbot's own."""
    if address.lower() not in own:
        return None
    return (
        f"{address!r} is mailbot's own address ([mailbot] address or aliases):"
        f" mailbot would mail itself and read its mail back as new mail; give"
        f" {whom}"
    )


def _check_not_own(settings: Settings) -> None:
    """mailbot sends to the duty address and the members: neither may be
    its own mailbox (sites.check_not_own does the same for the sites file)."""
    own = settings.own_addresses
    duty = settings.csirt.duty_address
    if duty and (problem := own_address_problem(duty, own, _DUTY)):
        raise ConfigError("csirt.duty_address", problem)
    for member in settings.csirt.members:
        if problem := own_address_problem(member, own, _MEMBER):
            raise ConfigError("csirt.members", problem)


_DUTY = "the CSIRT duty team's own address"
_MEMBER = "each member's own address; mailbot's are set in [mailbot]"


def _mailbot(s: Section) -> MailbotSettings:
    address = s.required("address")
    if problem := one_address(address):
        raise ConfigError(s.key("address"), problem)
    prefix_ok = lambda v: None if v.isalnum() else "must be letters and digits only"  # noqa: E731
    return MailbotSettings(
        address=address.lower(),
        tag_prefix=s.get("tag_prefix", str, "EGI", prefix_ok).upper(),
        timezone=s.get("timezone", str, "Europe/Amsterdam", valid_zone),
        aliases=s.addresses("aliases"),
    )


def _database(s: Section) -> DatabaseSettings:
    return DatabaseSettings(
        url=_database_url(s, s.get("url", str, "sqlite:///mailbot.db")),
        timeout=s.get("timeout", float, DatabaseSettings.timeout, positive),
    )


def _database_url(s: Section, text: str) -> str:
    """A URL of an engine mailbot runs on; a relative SQLite file is the config's."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    example = "such as sqlite:///mailbot.db or postgresql+psycopg://user@host/db"
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            s.key("url"), f"{text!r} is no database URL {example}"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            s.key("url"), f"mailbot runs on SQLite and PostgreSQL, URLs {example}"
        )
    database = url.database
    if (
        url.get_backend_name() == "sqlite"
        and database
        and database != ":memory:"
        and not database.startswith("file:")  # a URI (?mode=ro&uri=true), as given
    ):
        path = Path(database).expanduser()
        if not path.is_absolute():
            # Relative paths are relative to the config file, as everywhere.
            return url.set(database=str(s.base_dir / path)).render_as_string(
                hide_password=False
            )
    return text


def _source(s: Section) -> SourceSettings:
    return SourceSettings(
        kind=s.choice("kind", "imap", ("imap", "maildir")),
        poll_interval=s.get("poll_interval", float, 60.0, positive),
        batch_size=s.get("batch_size", int, 500, positive),
        max_fetch_attempts=s.get("max_fetch_attempts", int, 5, positive),
    )


def _imap(s: Section) -> ImapSettings:
    tls = s.choice("tls", "ssl", TLS_MODES)
    return ImapSettings(
        host=s.get("host", str, None),
        port=s.get("port", int, 993 if tls == "ssl" else 143, valid_port),
        tls=tls,
        username=s.get("username", str, "abuse"),
        password=s.get("password", str, ""),
        folder=s.get("folder", str, "INBOX", filled("a folder", "INBOX")),
        ca_file=_ca_file(s),
        timeout=s.get("timeout", float, 60.0, positive),
        idle=s.get("idle", bool, True),
    )


def _ca_file(s: Section) -> str | None:
    """A private CA's certificates, relative to the config file's folder."""
    value = s.get("ca_file", str, None)
    if not value:
        return None
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else s.base_dir / path)


def _maildir(s: Section) -> MaildirSettings:
    folder = filled("the Maildir's folder", "maildir")
    return MaildirSettings(path=s.get("path", str, "maildir", folder))


def _smtp(s: Section) -> SmtpSettings:
    kind = s.choice("kind", "smtp", ("smtp", "maildir"))
    tls = s.choice("tls", "starttls", TLS_MODES)
    settings = SmtpSettings(
        kind=kind,
        host=s.get("host", str, None),
        port=s.get(
            "port", int, {"ssl": 465, "starttls": 587, "none": 25}[tls], valid_port
        ),
        tls=tls,
        username=s.get("username", str, ""),
        password=s.get("password", str, ""),
        path=s.get("path", str, "outbox-maildir", filled(*_OUTBOX)),
        ca_file=_ca_file(s),
        timeout=s.get("timeout", float, 30.0, positive),
        max_attempts=s.get("max_attempts", int, 8, positive),
    )
    if kind == "smtp" and not (settings.host or "").strip():
        raise ConfigError("smtp.host", "is required when [smtp] kind is smtp")
    return settings


_OUTBOX = ("the outbox Maildir's folder", "outbox-maildir")


def _csirt(s: Section) -> CsirtSettings:
    return CsirtSettings(
        members=s.addresses("members"),
        authserv_ids=tuple(a.lower() for a in s.get("authserv_ids", tuple, ())),
        duty_address=s.address("duty_address", None),
    )


def _sites(s: Section) -> SitesSettings:
    sites = filled("the sites file's path", "sites.toml")
    return SitesSettings(file=s.get("file", str, "sites.toml", sites))


def _listen(value: str) -> str | None:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return f"{value!r} is no listen address; write it like 127.0.0.1:9464"
    return None


def _templates(s: Section) -> TemplatesSettings:
    # Whether the folder exists and its templates compile is checked when
    # the App makes its template environment (render.environment).
    return TemplatesSettings(directory=s.get("directory", str, None) or None)


def _metrics(s: Section) -> MetricsSettings:
    return MetricsSettings(listen=s.get("listen", str, None, _listen) or None)


def _logging(s: Section) -> LoggingSettings:
    return LoggingSettings(
        level=s.choice("level", "INFO", LOG_LEVELS),
        format=s.choice("format", "text", ("text", "json")),
    )


def _daily_time(value: str) -> str | None:
    from mailbot.deadlines.daily import parse_local_time

    if not value:
        return None
    try:
        parse_local_time(value)
    except ValueError as exc:
        return str(exc)
    return None


def _digest(s: Section) -> DigestSettings:
    return DigestSettings(time=s.get("time", str, "08:00", _daily_time) or None)


def _limits(s: Section) -> LimitsSettings:
    d = LimitsSettings()
    whole = {
        key: s.get(key, int, getattr(d, key), positive)
        for key in (
            "max_mail_bytes",
            "max_header_bytes",
            "max_mime_depth",
            "max_mime_parts",
            "max_attachment_bytes",
            "max_attempts",
        )
    }
    seconds = s.get("max_seconds_per_mail", float, d.max_seconds_per_mail, positive)
    return LimitsSettings(**whole, max_seconds_per_mail=seconds)


def _intake(s: Section) -> IntakeSettings:
    at_least_0 = lambda v: None if v >= 0 else "must be 0 or more"  # noqa: E731
    return IntakeSettings(workers=s.get("workers", int, 0, at_least_0))


def _brake(s: Section) -> BrakeSettings:
    d = BrakeSettings()
    keys = ("max_per_recipient_per_day", "max_per_incident_per_day", "max_per_hour")
    return BrakeSettings(**{k: s.get(k, int, getattr(d, k), positive) for k in keys})


_SECTION_BUILDERS: dict[str, Callable[[Section], Any]] = {
    "mailbot": _mailbot,
    "database": _database,
    "source": _source,
    "imap": _imap,
    "maildir": _maildir,
    "smtp": _smtp,
    "csirt": _csirt,
    "sites": _sites,
    "metrics": _metrics,
    "logging": _logging,
    "digest": _digest,
    "limits": _limits,
    "brake": _brake,
    "intake": _intake,
    "templates": _templates,
}

_KNOWN_SECTIONS = frozenset(_SECTION_BUILDERS) | _OTHER_SECTIONS


EXAMPLE_NAME = "config.example.toml"


def example_text() -> str:
    """config.example.toml: shipped in the package (setup.py), or, in a
    source tree (an editable install), at its top."""
    from importlib import resources

    shipped = resources.files("mailbot").joinpath(EXAMPLE_NAME)
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    return (Path(__file__).resolve().parent.parent / EXAMPLE_NAME).read_text(
        encoding="utf-8"
    )
