"""What a TLP:RED or TLP:AMBER+STRICT mail says stays with its recipients:
its subject is withheld from the NGI in a reminder, whatever form the
incident keeps it in, and its DNs are not sent to a VO. Mail goes in
through the real Dovecot and out through the real SMTP sink."""

from __future__ import annotations

import datetime as dt
import email.utils
from pathlib import Path
from typing import Any

import pytest
import test_csirt_env as env
from test_csirt_env import World, at, body_of, member_mail, raw_mail

from mailbot import tlp, views
from mailbot.deadlines.sweep import sweep
from mailbot.send import deliver_due

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

NGI = "ngi-sec@ngi-a.example.org"
VO = "vo-security@vo.example.org"
SECRET = "root compromise of ui01 via the stolen SSH key of jsmith"
DN = "/DC=org/DC=example/CN=Jane Doe 1234"
FOUND = "We found a compromise of ui01. Discovered 2025-11-24 07:30 UTC.\n"
# A Monday, 10:00 at SITE-A, and in the past: Dovecot stores an APPEND dated
# in the future as arriving at the APPEND (the test then ran on a clock
# hours away from the one it set, and its reminders fell a day late).
OPENED = at("2025-11-24T08:00:00")


def report(w: World, raw: bytes) -> str:
    """SITE-A's report arrives; returns the incident's tag."""
    w.deliver(raw, OPENED)
    w.new_mail()
    return str(views.incident_list(w.app)[0]["tag"])


def site_mail(subject: str, body: str) -> bytes:
    return raw_mail(
        subject=subject, body=body, sender=env.SITE_A, when=OPENED,
        message_id="<report@site-a.example.com>",
    )  # fmt: skip


def to_ngi(w: World, tag: str) -> list[Any]:
    """A member asks SITE-A for logs; the mails the NGI gets in copy of the
    reminders of the next two days."""
    when = at("2025-11-24T09:00:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] x", to=env.SITE_A, cc=env.ABUSE, when=when,
            body="Please send the logs of ui01.\n",
            message_id="<ask@csirt.example.org>",
        ),
        when,
    )  # fmt: skip
    w.new_mail()
    for now in ("2025-11-24T14:00:00", "2025-11-25T14:00:00"):
        w.app.clock.set(at(now))
        sweep(w.app)
        deliver_due(w.app)
    sent = [m for m in w.new_mail() if NGI in m.recipients]
    assert sent, "the second reminder copies the NGI"
    return sent


def to_vo(w: World, tag: str) -> tuple[list[Any], str]:
    """A member sends `#notify-vo`; the mails the VO got, and what the
    member was told."""
    when = at("2025-11-24T09:00:00")
    w.deliver(
        member_mail(
            subject=f"Re: [{tag}] x", when=when, body="#notify-vo vo.example.org\n",
            message_id="<notify@csirt.example.org>",
        ),
        when + dt.timedelta(seconds=1),
    )  # fmt: skip
    sent = w.new_mail()
    told = [body_of(m) for m in sent if m.recipients == (env.ALICE,)]
    return [m for m in sent if VO in m.recipients], "\n".join(told)


def assert_withheld(messages: list[Any], label: str) -> None:
    for message in messages:
        assert f"(withheld: TLP:{label})" in message.message["Subject"]
        text = message.message["Subject"] + body_of(message)
        assert "jsmith" not in text and "ui01 via" not in text


@pytest.mark.parametrize(
    "subject",
    [
        # Over compose.MAX_SUBJECT_CHARS: the incident keeps it cut.
        f"TLP:RED {SECRET}, attacker at 203.0.113.77 also hit se01 and argus01 "
        + "and more hosts of the storage cluster, details follow " * 3,
        # Invisible characters a pasted text brings: the incident keeps it
        # without them.
        f"TLP:RED {SECRET}\u200b at SITE-A",
        f"TLP:RED \u200e{SECRET}",
        f"\ufeffTLP:RED {SECRET}",
    ],
    ids=["long", "zwsp", "lrm", "bom"],
)
def test_red_subject_is_withheld_from_the_ngi_in_any_form(
    w: World, tmp_path: Path, subject: str
) -> None:
    # The breaker's B1: the NGI copied on the second reminder got the RED
    # subject the incident keeps (cut, invisible characters out), because
    # only the subject as the mail wrote it was looked for.
    tag = report(w, site_mail(subject, FOUND))
    assert w.show(tag)["tlp"] == "RED"
    assert_withheld(to_ngi(w, tag), "RED")


def test_amber_strict_subject_is_withheld_from_the_ngi(
    w: World, tmp_path: Path
) -> None:
    # The breaker's B8: AMBER+STRICT is for the recipient's organisation
    # only; the NGI is another.
    tag = report(w, site_mail(f"{SECRET} TLP:AMBER+STRICT", FOUND))
    assert w.show(tag)["tlp"] == "AMBER+STRICT"
    sent = to_ngi(w, tag)
    assert_withheld(sent, "AMBER+STRICT")
    assert all("[TLP:AMBER+STRICT]" in m.message["Subject"] for m in sent)


@pytest.mark.parametrize("label", ["AMBER+STRICT", "RED"])
def test_dns_of_a_strict_or_red_mail_are_not_sent_to_a_vo(
    w: World, tmp_path: Path, label: str
) -> None:
    body = f"TLP:{label}\n\nThe stolen proxy belongs to {DN}.\n{FOUND}"
    tag = report(w, site_mail("Compromised proxy at SITE-A", body))
    assert w.show(tag)["tlp"] == label
    assert DN in w.show(tag)["fields"]["x509_dns"]
    sent, told = to_vo(w, tag)
    assert sent == []
    assert "nothing to send" in told


def test_dns_of_an_amber_mail_are_sent_to_a_vo(w: World, tmp_path: Path) -> None:
    body = f"TLP:AMBER\n\nThe stolen proxy belongs to {DN}.\n{FOUND}"
    tag = report(w, site_mail("Compromised proxy at SITE-A", body))
    sent, _ = to_vo(w, tag)
    assert [m.recipients for m in sent] == [(VO,)]
    assert DN in body_of(sent[0])


SPELLINGS = [
    "TLP \u2013 RED",  # Outlook's autocorrect of "TLP - RED"
    "TLP\u2014RED",
    "[TLP/RED]",
    "TLP\uff1aRED",  # a full-width colon
    "\uff34\uff2c\uff30:\uff32\uff25\uff24",  # full-width letters
    "Classification: TLP 2.0 RED",
    "TLP v2: RED",
    # The retest of B7: invisible characters inside the label, and spellings
    # that were missed.
    "TLP:\u200bRED",  # a zero-width space
    "TLP:R\u200cED",  # a zero-width non-joiner
    "TLP\u00ad:RED",  # a soft hyphen
    "\ufeffTLP:\u200eRED",  # a BOM and a left-to-right mark
    "TLP=RED",
    "Traffic Light Protocol: RED",
    "Traffic Light Protocol (TLP): RED",
]


@pytest.mark.parametrize("where", ["subject", "banner"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_red_in_other_spellings_is_recognised(
    w: World, tmp_path: Path, spelling: str, where: str
) -> None:
    # The breaker's B7: these stayed AMBER, so the subject went to the NGI
    # and the DNs to a VO.
    if where == "subject":
        raw = site_mail(f"{spelling} {SECRET}", f"The stolen proxy is {DN}.\n{FOUND}")
    else:
        raw = site_mail(SECRET, f"{spelling}\n\nThe stolen proxy is {DN}.\n{FOUND}")
    tag = report(w, raw)
    assert w.show(tag)["tlp"] == "RED"
    sent, told = to_vo(w, tag)
    assert sent == [] and "nothing to send" in told


def test_prose_is_no_label(w: World, tmp_path: Path) -> None:
    body = (
        "TLP:GREEN\n\nOur red team found it; the TLP team was told, an AMBER alert"
        " went out, and TLP 2.0 is what we use.\n" + FOUND
    )
    tag = report(w, site_mail("Scan from 192.0.2.9, our red team", body))
    assert w.show(tag)["tlp"] == "GREEN"


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("TLP \u2013 RED", ["RED"]),
        ("[TLP/AMBER+STRICT]", ["AMBER+STRICT"]),
        ("TLP\uff1aGREEN", ["GREEN"]),
        ("Classification: TLP 2.0 RED", ["RED"]),
        ("TLP 1.0 WHITE", ["CLEAR"]),
        ("the TLP team", []),
        ("our red team", []),
        ("an AMBER alert", []),
        ("TLP clearly says", []),
    ],
)
def test_find_labels(text: str, labels: list[str]) -> None:
    assert tlp.find_labels(text) == labels


def multipart(subject: str, parts: list[str]) -> bytes:
    """SITE-A's mail of `FOUND` and `parts` (each its headers and body)."""
    body = "".join(f"--B0\r\n{part}\r\n" for part in [f"\r\n{FOUND}", *parts])
    head = (
        f"From: {env.SITE_A}\r\nTo: {env.ABUSE}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.format_datetime(OPENED)}\r\n"
        "Message-ID: <report@site-a.example.com>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="B0"\r\n\r\n'
    )
    return f"{head}{body}--B0--\r\n".encode()


def attached(filename: str, text: str) -> str:
    return (
        f'Content-Type: text/plain; name="{filename}"\r\n'
        f'Content-Disposition: attachment; filename="{filename}"\r\n\r\n{text}'
    )


FORWARDED = (
    "Content-Type: message/rfc822\r\n\r\n"
    "From: cert@nren.example.net\r\nTo: admin@site-a.example.com\r\n"
    "Subject: [TLP:RED] Compromised credentials\r\n"
    "Message-ID: <inner@nren.example.net>\r\n\r\n"
)


@pytest.mark.parametrize(
    "part",
    [
        FORWARDED + f"TLP:RED\r\n\r\nThe stolen proxy belongs to {DN}.\r\n",
        # The forwarded mail's subject alone says RED.
        FORWARDED + f"The stolen proxy belongs to {DN}.\r\n",
        attached("proxy-info.txt", f"TLP:RED\r\nCompromised proxy DN: {DN}\r\n"),
        attached("proxy-info-TLP-RED.txt", f"Compromised proxy DN: {DN}\r\n"),
        attached("proxy_info_TLP_RED.txt", f"Compromised proxy DN: {DN}\r\n"),
    ],
    ids=["fwd822", "fwd822_subject", "attbanner", "attname", "attname_underscore"],
)
def test_red_forwarded_or_attached_keeps_its_dns_from_a_vo(
    w: World, tmp_path: Path, part: str
) -> None:
    # The breaker's B2: the DN was read from the forwarded mail or the
    # attachment, but its RED label was not, and the VO got the DN.
    tag = report(w, multipart("Fwd: compromised proxy at SITE-A", [part]))
    shown = w.show(tag)
    assert shown["tlp"] == "RED"
    assert DN in shown["fields"]["x509_dns"]
    sent, told = to_vo(w, tag)
    assert sent == [] and "nothing to send" in told


def test_a_lower_label_attached_does_not_lower_the_mail(
    w: World, tmp_path: Path
) -> None:
    part = attached("advisory-TLP-CLEAR.txt", f"TLP:CLEAR\r\nProxy DN: {DN}\r\n")
    tag = report(w, multipart("Compromised proxy at SITE-A", [part]))
    assert w.show(tag)["tlp"] == "AMBER"
    sent, _ = to_vo(w, tag)
    assert [m.recipients for m in sent] == [(VO,)]


@pytest.mark.parametrize("spelling", ["TLP AMBER STRICT", "[TLP:AMBER STRICT]"])
def test_amber_strict_without_the_plus_is_recognised(
    w: World, tmp_path: Path, spelling: str
) -> None:
    tag = report(w, site_mail(f"{SECRET} {spelling}", FOUND))
    assert w.show(tag)["tlp"] == "AMBER+STRICT"
    assert_withheld(to_ngi(w, tag), "AMBER+STRICT")


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("TLP:\u200bRED", ["RED"]),
        ("TLP:AM\u2060BER+STRICT", ["AMBER+STRICT"]),
        ("TLP=GREEN", ["GREEN"]),
        ("Traffic Light Protocol: AMBER", ["AMBER"]),
        ("Traffic Light Protocol (TLP): RED", ["RED"]),
        ("TLP AMBER STRICT", ["AMBER+STRICT"]),
        ("the Traffic Light Protocol red level is for named people", []),
        ("under the Traffic Light Protocol, red means", []),
        ("the TLP:AMBER strictly", ["AMBER"]),
    ],
)
def test_find_labels_hidden_and_spelled_out(text: str, labels: list[str]) -> None:
    assert tlp.find_labels(text) == labels


def test_amber_strict_command_without_the_plus() -> None:
    assert tlp.normalise("amber strict") == "AMBER+STRICT"


# Past the head of an attachment, which was all that was read.
LOG = "".join(f"Dec  7 07:{n:02} ui01 sshd: session opened\r\n" for n in range(30))
OUTLOOK_HEAD = (
    "From: NREN CERT <cert@nren.example.net>\r\n"
    "Sent: Monday, December 7, 2026 7:00 AM\r\n"
    "To: admin@site-a.example.com\r\n"
)


@pytest.mark.parametrize(
    "part",
    [
        # The label as the attachment's last line, and in its last lines.
        attached(
            "proxy.txt",
            f"Compromised proxy DN: {DN}\r\n\r\nThis document is TLP:RED.\r\n",
        ),
        attached(
            "proxy.txt",
            f"Compromised proxy DN: {DN}\r\n" + LOG + "-- \r\nTLP:RED\r\nNREN CERT\r\n",
        ),
    ],
    ids=["last_line", "foot"],
)
def test_red_at_the_foot_of_an_attachment_keeps_its_dns_from_a_vo(
    w: World, tmp_path: Path, part: str
) -> None:
    tag = report(w, multipart("Compromised proxy at SITE-A", [part]))
    assert w.show(tag)["tlp"] == "RED"
    sent, told = to_vo(w, tag)
    assert sent == [] and "nothing to send" in told


def test_prose_at_the_foot_of_an_attachment_is_no_label(
    w: World, tmp_path: Path
) -> None:
    text = f"Proxy DN: {DN}\r\nThe TLP:RED guidance applies elsewhere, not here.\r\n"
    tag = report(w, multipart("Compromised proxy at SITE-A", [attached("p.txt", text)]))
    assert w.show(tag)["tlp"] == "AMBER"


def html_mail(subject: str, html: str) -> bytes:
    return (
        f"From: {env.SITE_A}\r\nTo: {env.ABUSE}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.format_datetime(OPENED)}\r\n"
        "Message-ID: <report@site-a.example.com>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("subject", "inner"),
    [
        ("FW: compromised proxy at SITE-A", "[TLP:RED] Compromised credentials"),
        ("FW: compromised proxy at SITE-A", "Compromised credentials"),
        ("WG: compromised proxy at SITE-A", "[TLP:RED] Compromised credentials"),
        # A reply that quotes a RED mail in an Outlook block.
        ("RE: compromised proxy at SITE-A", "[TLP:RED] Compromised credentials"),
    ],
    ids=["fw", "fw_banner_only", "wg", "re_quoted"],
)
@pytest.mark.parametrize("form", ["original_message", "header_block", "html"])
def test_red_forwarded_outlook_style_keeps_its_dns_from_a_vo(
    w: World, tmp_path: Path, subject: str, inner: str, form: str
) -> None:
    # The retest of B2: the Gmail forward of a RED mail was read as RED, the
    # Outlook forward of the same mail left the incident AMBER.
    quoted = (
        f"Subject: {inner}\r\n\r\nTLP:RED\r\n\r\nThe stolen proxy belongs to {DN}.\r\n"
    )
    if form == "html":
        raw = html_mail(
            subject,
            "<html><body><p>FYI, see below.</p>"
            "<div style='border-top:solid #E1E1E1 1.0pt'><p><b>From:</b> NREN CERT"
            " &lt;cert@nren.example.net&gt;<br><b>Sent:</b> Monday, December 7,"
            " 2026 7:00 AM<br><b>To:</b> admin@site-a.example.com<br>"
            f"<b>Subject:</b> {inner}</p></div><p>TLP:RED</p>"
            f"<p>The stolen proxy belongs to {DN}.</p></body></html>",
        )
    else:
        separator = (
            "-----Original Message-----\r\n" if form == "original_message" else ""
        )
        raw = site_mail(
            subject, f"FYI, see below.\r\n\r\n{separator}{OUTLOOK_HEAD}{quoted}"
        )
    tag = report(w, raw)
    assert w.show(tag)["tlp"] == "RED"
    sent, _ = to_vo(w, tag)
    assert sent == []


def test_an_outlook_reply_quoting_prose_about_red_stays_amber(
    w: World, tmp_path: Path
) -> None:
    quoted = (
        "Subject: compromised proxy\r\n\r\nWe shared the IOCs with the NGI as"
        " TLP:RED last week.\r\n"
    )
    raw = site_mail(
        "RE: compromised proxy at SITE-A", f"{FOUND}\r\n{OUTLOOK_HEAD}{quoted}"
    )
    tag = report(w, raw)
    assert w.show(tag)["tlp"] == "AMBER"


@pytest.mark.parametrize(
    "text",
    [
        "Subject: [TLP:RED] proxy leaked",
        "** AMBER information - Limited distribution **",
        "Traffic Light Protocol: RED",
        "TLP:\u200bRED",
        "\uff34\uff2c\uff30\uff1aRED",
    ],
)
def test_the_quick_look_never_passes_over_a_label(text: str) -> None:
    # may_hold_label spares the quoted-block pass only where no label can
    # be: each text that holds one is looked at, and holds one.
    body = f"Hello,\n\n> {text}\n> more\n"
    assert tlp.may_hold_label(body)
    assert tlp.find_labels(body)
    assert not tlp.may_hold_label("Hello,\n\n> we saw scans from 192.0.2.7\n")
