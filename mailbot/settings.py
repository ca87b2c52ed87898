"""The settings mailbot runs with: frozen, typed, one class a section.

mailbot/config.py reads them from the TOML file and the MAILBOT_ variables;
everything else only reads these objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailbot.config_env import variable

TLS_MODES = ("ssl", "starttls", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True)
class MailbotSettings:
    address: str
    tag_prefix: str = "EGI"
    timezone: str = "Europe/Amsterdam"
    aliases: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True)
class DatabaseSettings:
    url: str = "sqlite:///mailbot.db"
    # Seconds a PostgreSQL statement waits for the server's answer before
    # the connection is given up as an outage (db/silence.py).
    timeout: float = 120.0


@dataclass(frozen=True)
class SourceSettings:
    kind: str = "imap"  # "imap" or "maildir"
    poll_interval: float = 60.0
    batch_size: int = 500
    max_fetch_attempts: int = 5


@dataclass(frozen=True)
class ImapSettings:
    host: str | None = None
    port: int = 993
    tls: str = "ssl"
    username: str = "abuse"
    password: str = ""
    folder: str = "INBOX"
    ca_file: str | None = None
    timeout: float = 60.0
    idle: bool = True


@dataclass(frozen=True)
class MaildirSettings:
    path: str = "maildir"


@dataclass(frozen=True)
class SmtpSettings:
    kind: str = "smtp"  # "smtp" or "maildir"
    host: str | None = None
    port: int = 587
    tls: str = "starttls"
    username: str = ""
    password: str = ""
    path: str = "outbox-maildir"
    ca_file: str | None = None
    timeout: float = 30.0
    max_attempts: int = 8


@dataclass(frozen=True)
class CsirtSettings:
    members: tuple[str, ...] = ()
    authserv_ids: tuple[str, ...] = ()
    duty_address: str | None = None


@dataclass(frozen=True)
class SitesSettings:
    file: str = "sites.toml"


@dataclass(frozen=True)
class TemplatesSettings:
    # A folder whose templates override the shipped ones; None: none.
    directory: str | None = None


@dataclass(frozen=True)
class MetricsSettings:
    # "HOST:PORT" for the Prometheus exporter; None keeps it off.
    listen: str | None = None


@dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"
    format: str = "text"  # "text" or "json"


@dataclass(frozen=True)
class DigestSettings:
    # Local time (in [mailbot] timezone) of the daily digest; None: no digest.
    time: str | None = "08:00"


@dataclass(frozen=True)
class LimitsSettings:
    """Bounds on one incoming mail; a mail over them is kept and marked."""

    max_mail_bytes: int = 25 * 1024 * 1024
    max_header_bytes: int = 256 * 1024
    max_mime_depth: int = 30
    max_mime_parts: int = 500
    max_attachment_bytes: int = 10 * 1024 * 1024
    max_seconds_per_mail: float = 60.0
    # Automatic processing attempts of one mail before it stays quarantined.
    max_attempts: int = 3


@dataclass(frozen=True)
class IntakeSettings:
    # Worker processes that parse and read fetched mail ahead of the
    # database work (mailbot/ahead.py); 0: every mail is read in the main
    # process. At most the CPUs are used.
    workers: int = 0


@dataclass(frozen=True)
class BrakeSettings:
    """Caps on automatic mail, and the brake that stops it when volume jumps."""

    max_per_recipient_per_day: int = 10
    max_per_incident_per_day: int = 20
    max_per_hour: int = 50


@dataclass(frozen=True)
class Settings:
    mailbot: MailbotSettings
    database: DatabaseSettings
    source: SourceSettings
    imap: ImapSettings
    maildir: MaildirSettings
    smtp: SmtpSettings
    csirt: CsirtSettings
    sites: SitesSettings
    base_dir: Path
    raw: Mapping[str, Any]
    metrics: MetricsSettings = MetricsSettings()
    logging: LoggingSettings = LoggingSettings()
    digest: DigestSettings = DigestSettings()
    limits: LimitsSettings = LimitsSettings()
    brake: BrakeSettings = BrakeSettings()
    intake: IntakeSettings = IntakeSettings()
    templates: TemplatesSettings = TemplatesSettings()
    # Per section, the keys a MAILBOT_ variable set: errors found later (the
    # [rules] and [chase] tables) name the variable.
    environment: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def path(self, value: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    def named(self, section: str, key: str) -> str:
        """Where the value of `section`'s `key` in use is set, for advice:
        the variable when one set it, else the file's "[section] key"."""
        if key in self.environment.get(section, ()):
            return variable(section, key)
        return f"[{section}] {key}"

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset({self.mailbot.address, *self.mailbot.aliases})
