"""A connection to the SMTP server that fails says which setting to check,
as the mailbox's does (mailbot/connection.py)."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from mailbot_env import mail, make_app
from servers import (
    LOOPBACK,
    SmtpSink,
    make_tls_files,
    openssl_missing,
    require,
    smtp_sink_missing,
)

from mailbot import health, send
from mailbot.config import load_settings
from mailbot.errors import ConfigError, ServerUnavailable
from mailbot.mail import RawMail
from mailbot.process import process_delivery
from mailbot.send.transport import RelayRefused, SmtpTransport
from mailbot.settings import SmtpSettings

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
MAIL = b"From: abuse@egi.example\r\nTo: a@b.example\r\nSubject: x\r\n\r\nx\r\n"


def _send(sink: SmtpSink, tls: str, **more: object) -> str:
    settings = SmtpSettings(host=sink.host, port=sink.port, tls=tls, timeout=2, **more)
    transport = SmtpTransport(settings)
    with pytest.raises(ServerUnavailable) as raised:
        transport.send("abuse@egi.example", ["a@b.example"], MAIL)
    return str(raised.value)


@pytest.mark.parametrize(
    ("tls", "said"),
    [
        # The sink offers no STARTTLS: smtplib said only that.
        ("starttls", '[smtp] tls is "starttls" but the server offers no STARTTLS'),
        # TLS spoken to a plain port.
        ("ssl", "the server does not speak TLS on this port; check [smtp] tls"),
    ],
)
def test_an_smtp_connection_that_fails_names_the_setting_to_check(
    smtp_sink: SmtpSink, tls: str, said: str
) -> None:
    assert said in _send(smtp_sink, tls)
    assert smtp_sink.messages == []


def test_nothing_listening_at_the_smtp_port_is_said(smtp_sink: SmtpSink) -> None:
    smtp_sink.stop()
    assert "nothing listens there; check [smtp] host and port" in _send(
        smtp_sink, "none"
    )


def _config(tmp_path: Path, ca_file: str) -> Path:
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@egi.example"\n[source]\nkind = "maildir"\n'
        f'[smtp]\nhost = "127.0.0.1"\nca_file = "{ca_file}"\n',
        encoding="utf-8",
    )
    return config


def test_a_ca_file_that_cannot_be_used_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    # It failed at the first connection, as "cannot reach SMTP ...: [Errno 2]".
    with pytest.raises(ConfigError) as missing:
        load_settings(_config(tmp_path, "nowhere.pem"), {})
    assert missing.value.key == "smtp.ca_file"
    (tmp_path / "junk.pem").write_text("no certificate here\n", encoding="utf-8")
    with pytest.raises(ConfigError) as junk:
        load_settings(_config(tmp_path, "junk.pem"), {})
    assert junk.value.key == "smtp.ca_file"
    assert "give a readable file of PEM certificates" in str(junk.value)


def test_a_relative_ca_file_is_found_beside_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It was looked for in the current folder, unlike every other path.
    require(openssl_missing() or smtp_sink_missing())
    tls = make_tls_files(tmp_path)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "ca.pem").write_bytes(tls.ca.read_bytes())
    monkeypatch.chdir(tmp_path)  # not the config file's folder
    settings = load_settings(_config(tmp_path / "conf", "ca.pem"), {})
    assert settings.smtp.ca_file == str(tmp_path / "conf" / "ca.pem")
    with SmtpSink(tls_files=tls) as sink:
        smtp = SmtpSettings(
            host=sink.host,
            port=sink.port,
            tls="starttls",
            ca_file=settings.smtp.ca_file,
        )
        transport = SmtpTransport(smtp)
        try:
            transport.send("abuse@egi.example", ["a@b.example"], MAIL)
        finally:
            transport.close()
        assert len(sink.wait_for(1)) == 1


def test_a_port_of_the_other_protocol_is_named(
    tmp_path: Path, dovecot, smtp_sink: SmtpSink, database_url: str
) -> None:  # type: ignore[no-untyped-def]
    """[imap] port at an SMTP server said only "unexpected response: b'220
    ...'", and [smtp] port at an IMAP server "(-1, b'[CAPABILITY ...')"."""
    from dataclasses import replace

    from mailbot.errors import TemporaryError
    from mailbot.fetch import imap

    app = make_app(tmp_path, database_url, dovecot=dovecot, smtp=smtp_sink)
    s = app.settings
    app.settings = replace(s, imap=replace(s.imap, port=smtp_sink.port))
    with pytest.raises(TemporaryError) as raised:
        imap.connect(app)
    app.close()
    assert str(raised.value).endswith(
        ": the port answers like an SMTP server, not an IMAP one; check [imap]"
        ' port (993 with tls = "ssl", 143 otherwise)'
    )
    at_imap = SmtpSettings(host=dovecot.host, port=dovecot.port, tls="none", timeout=5)
    with pytest.raises(ServerUnavailable) as raised:
        SmtpTransport(at_imap).send("abuse@egi.example", ["a@b.example"], MAIL)
    assert str(raised.value).endswith(
        ": the port answers like an IMAP server, not an SMTP one; check [smtp]"
        ' port (465 with tls = "ssl", 587 or 25 otherwise)'
    )


@contextlib.contextmanager
def _greeter(greeting: bytes, answer: bytes = b"") -> Iterator[int]:
    """A server on loopback that answers each connection with `greeting`
    (nothing at all when empty), then each command with `answer` (none when
    empty); its port."""
    server = socket.create_server((LOOPBACK, 0))
    taken: list[socket.socket] = []

    def talk(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(greeting)
            while answer and conn.recv(1000):
                conn.sendall(answer)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = server.accept()
                taken.append(conn)
                threading.Thread(target=talk, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        for sock in [*taken, server]:
            sock.close()


@pytest.mark.parametrize(
    ("greeting", "answer", "error", "said"),
    [(b"554 5.7.1 no SMTP service for you\r\n", b"", RelayRefused,
      "refused the connection: 554 5.7.1 no SMTP service for you: check that"),
     (b"421 4.3.2 too busy\r\n", b"", ServerUnavailable,
      "refused the connection: 421 4.3.2 too busy; the mail waits"),
     (b"", b"", ServerUnavailable,
      "took the connection: no greeting within [smtp] timeout"),
     (b"220 mx\r\n", b"550 5.7.1 go away\r\n", RelayRefused,
      "refuses mailbot's greeting (EHLO egi.example: 550 5.7.1 go away)")],
)  # fmt: skip
def test_an_smtp_greeting_refused_or_missing_is_said_in_words(
    greeting: bytes, answer: bytes, error: type[ServerUnavailable], said: str
) -> None:
    """A refusal at the greeting was said as "cannot reach SMTP ...: (554,
    b'5.7.1 no SMTP service for you')", a Python tuple of a server that was
    reached, and no greeting as "Connection unexpectedly closed: timed
    out" (brk13 F4), and EHLO refused as "SMTP failed before DATA: (550,
    b'...')". A 5xx greeting lasts until a person acts."""
    with _greeter(greeting, answer) as port:
        settings = SmtpSettings(host=LOOPBACK, port=port, tls="none", timeout=1)
        transport = SmtpTransport(settings, local_hostname="egi.example")
        with pytest.raises(ServerUnavailable) as raised:
            transport.send("abuse@egi.example", ["a@b.example"], MAIL)
    assert type(raised.value) is error
    assert said in str(raised.value)
    assert "cannot reach" not in str(raised.value)
    assert "b'" not in str(raised.value)


def test_auth_not_offered_says_what_to_set(smtp_sink: SmtpSink) -> None:
    """With [smtp] username set and a server offering no AUTH: "cannot reach
    SMTP ...: SMTP AUTH extension not supported by server." (brk13 F4)."""
    said = _send(smtp_sink, "none", username="mailbot", password="s3cret")
    assert said.startswith(f"SMTP {smtp_sink.host}:{smtp_sink.port} offers no AUTH")
    assert "AUTH only after STARTTLS" in said
    assert "leave [smtp] username unset" in said


@pytest.mark.parametrize(
    ("extra", "said"),
    [({"MAILBOT_SMTP_TLS": "starttls"}, "offers no STARTTLS"),
     ({"MAILBOT_SMTP_TLS": "ssl"}, "does not speak TLS on this port"),
     ({"MAILBOT_SMTP_USERNAME": "mailbot", "MAILBOT_SMTP_PASSWORD": "s3cret"},
      "offers no AUTH")],
)  # fmt: skip
def test_smtp_settings_that_do_not_fit_the_server_make_status_unhealthy_at_once(
    tmp_path: Path, database_url: str, smtp_sink: SmtpSink, extra, said
) -> None:  # type: ignore[no-untyped-def]
    """Like a refused login, these last until a person changes the settings
    or the server; status said nothing until the outbox was half an hour
    old (brk13 F4). The mail waits, untried, and leaves once they fit."""
    app = make_app(tmp_path, database_url, smtp=smtp_sink, now=NOW, extra=extra)
    report = mail(
        subject="Scans from 203.0.113.9",
        sender="r@cert.example.net",
        message_id="<fit-1@cert.example.net>",
    )
    assert process_delivery(app, RawMail(report, NOW, "t1")).result == "processed"
    assert send.deliver_due(app).sent == 0
    data = health.status(app, NOW)
    assert not data["healthy"]
    assert any(said in problem for problem in data["problems"]), data["problems"]
    assert smtp_sink.messages == []
    app.close()
