"""A connection to the SMTP server that fails says which setting to check,
as the mailbox's does (mailbot/connection.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import (
    SmtpSink,
    make_tls_files,
    openssl_missing,
    require,
    smtp_sink_missing,
)

from mailbot.config import load_settings
from mailbot.errors import ConfigError, ServerUnavailable
from mailbot.send.transport import SmtpTransport
from mailbot.settings import SmtpSettings

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

    from mailbot_env import make_app

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
