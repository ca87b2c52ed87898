"""Realistic abuse-mailbox traffic, generated: the benchmarks' input.

    mails = list(generate(5000, seed=7))

The mix follows what EGI CSIRT's mailbox sees: sites reporting incidents
(template headings, prose, pasted logs), replies in their threads from sites
and CSIRT members, third-party reports, forwards of earlier mail, HTML mail,
log and binary attachments, auto-replies and bounces, and a few broken mails
(no boundary, unknown charset, 8-bit and NUL bytes in headers, cut short).
Sizes run from about 1 KB to 1 MB; most mail is small, as in a real mailbox.
Everything is a pure function of the seed, so runs compare.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

UTC = dt.UTC
# The instant the benchmarks pass to mailbot as --now; mail is older.
NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
MAILBOX = "abuse@csirt.example.org"
CSIRT_DOMAIN = "csirt.example.org"
AUTHSERV_ID = "mx.csirt.example.org"
SITE_COUNT = 40

# Weights: most traffic is conversation in threads that are already open;
# about a third of the mail opens an incident (and so is acknowledged).
KINDS = (
    ("report", 9),
    ("site_reply", 30),
    ("csirt_reply", 22),
    ("third_party", 8),
    ("forward", 4),
    ("html", 5),
    ("log_attachment", 5),
    ("binary_attachment", 4),
    ("auto_reply", 8),
    ("bounce", 3),
    ("broken", 2),
)


@dataclass(frozen=True)
class Generated:
    raw: bytes
    arrived_at: dt.datetime
    kind: str


def sites_toml(count: int = SITE_COUNT) -> str:
    """The sites file matching the generated traffic."""
    lines = [
        '[[ngi]]\nname = "NGI_BENCH"\nsecurity_contacts = ["ngi@ngi.example.org"]\n'
    ]
    for n in range(count):
        lines.append(
            f'[[site]]\nname = "SITE-{n:02d}"\nngi = "NGI_BENCH"\n'
            f'timezone = "Europe/Amsterdam"\ncountry = "NL"\n'
            f'security_contacts = ["security@site{n:02d}.example.org"]\n'
            f'domains = ["site{n:02d}.example.org"]\n'
            f'networks = ["10.{n}.0.0/16"]\n'
        )
    return "\n".join(lines)


_PROSE = (
    "the host was isolated after we saw outbound scans from the worker node "
    "and a miner process owned by a pilot job user; logs attached ssh login "
    "attempt from remote address firewall blocked network snapshot taken "
    "downtime declared credentials rotated kernel patched"
)
_VOCABULARY = _PROSE.split()


class _Writer:
    """Builds mails of one run; remembers reports so replies can thread."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counter = 0
        self.threads: list[tuple[str, int, str]] = []  # (message-id, site, subject)

    def message_id(self, domain: str) -> str:
        self.counter += 1
        return f"<bench-{self.counter}-{self.rng.getrandbits(32):08x}@{domain}>"

    def ip(self, site: int | None = None) -> str:
        r = self.rng
        if site is not None:
            return f"10.{site}.{r.randint(0, 255)}.{r.randint(1, 254)}"
        return f"203.0.113.{r.randint(1, 254)}"

    def words(self, count: int) -> str:
        vocabulary = _VOCABULARY
        return " ".join(self.rng.choice(vocabulary) for _ in range(count))

    def log_lines(self, site: int, size: int) -> str:
        lines, total = [], 0
        while total < size:
            r = self.rng
            line = (
                f"Dec  3 {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:"
                f"{r.randint(0, 59):02d} wn{r.randint(1, 99):02d} "
                f"sshd[{r.randint(100, 99999)}]: Accepted publickey for "
                f"pilot{r.randint(1, 50)} from {self.ip()} "
                f"port {r.randint(1024, 65535)} ssh2 to {self.ip(site)}"
            )
            lines.append(line)
            total += len(line) + 1
        return "\n".join(lines)


def _headers(
    sender: str,
    subject: str,
    message_id: str,
    date: dt.datetime,
    extra: dict[str, str] | None = None,
) -> list[str]:
    lines = [
        f"Received: from mx.example.net (mx.example.net [198.51.100.{date.second + 1}])"
        f" by {AUTHSERV_ID}; {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"From: {sender}",
        f"To: {MAILBOX}",
        f"Subject: {subject}",
        f"Date: {date.strftime('%a, %d %b %Y %H:%M:%S +0000')}",
        f"Message-ID: {message_id}",
        "MIME-Version: 1.0",
    ]
    lines += [f"{k}: {v}" for k, v in (extra or {}).items()]
    return lines


def _plain(headers: list[str], body: str) -> bytes:
    text = "\r\n".join(
        [
            *headers,
            "Content-Type: text/plain; charset=utf-8",
            "",
            body.replace("\n", "\r\n"),
        ]
    )
    return text.encode("utf-8")


def _multipart(headers: list[str], parts: list[str], subtype: str = "mixed") -> bytes:
    boundary = f"=_bench_{len(parts)}_{len(headers)}"
    out = [*headers, f'Content-Type: multipart/{subtype}; boundary="{boundary}"', ""]
    for part in parts:
        out += [f"--{boundary}", part]
    out.append(f"--{boundary}--\r\n")
    return "\r\n".join(out).encode("utf-8")


def _text_part(body: str, filename: str | None = None) -> str:
    disposition = (
        f'\r\nContent-Disposition: attachment; filename="{filename}"'
        if filename
        else ""
    )
    return (
        f"Content-Type: text/plain; charset=utf-8{disposition}\r\n\r\n"
        + body.replace("\n", "\r\n")
    )


def _report_body(w: _Writer, site: int) -> str:
    host = f"wn{w.rng.randint(1, 99):02d}.site{site:02d}.example.org"
    return (
        "Dear EGI CSIRT,\n\n"
        f"Incident discovered 2026-12-0{w.rng.randint(1, 3)} "
        f"0{w.rng.randint(0, 9)}:10 UTC.\n\n"
        f"Detected by: our IDS, an alert on outbound traffic\n"
        f"Systems affected:\n{host} ({w.ip(site)})\n\n"
        f"Evidence:\n{w.log_lines(site, w.rng.randint(200, 2500))}\n\n"
        f"Actions taken: {w.words(20)}\n\n"
        f"We saw SSH logins from {w.ip()} to {host}. {w.words(40)}\n\n"
        "TLP:AMBER\n-- \nSite security team\n"
    )


def _report(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    site = w.rng.randrange(SITE_COUNT)
    mid = w.message_id(f"site{site:02d}.example.org")
    subject = (
        f"Security incident suspected at SITE-{site:02d} "
        f"[EGI-{date.strftime('%Y%m%d')}] TLP: AMBER"
    )
    w.threads.append((mid, site, subject))
    sender = f"Site Security <security@site{site:02d}.example.org>"
    return _plain(_headers(sender, subject, mid, date), _report_body(w, site)), "report"


def _thread(w: _Writer) -> tuple[str, int, str] | None:
    if not w.threads:
        return None
    # Recent threads get most of the replies, as in a real mailbox.
    return w.threads[-1 - min(int(w.rng.expovariate(0.2)), len(w.threads) - 1)]


def _reply(w: _Writer, date: dt.datetime, csirt: bool) -> tuple[bytes, str]:
    parent = _thread(w)
    if parent is None:
        return _report(w, date)
    parent_id, site, subject = parent
    if csirt:
        sender = f"Alice CSIRT <alice@{CSIRT_DOMAIN}>"
        extra = {
            "Authentication-Results": f"{AUTHSERV_ID}; dkim=pass "
            f"header.d={CSIRT_DOMAIN}; spf=pass smtp.mailfrom={CSIRT_DOMAIN}",
            "Cc": f"security@site{site:02d}.example.org",
        }
        body = f"Could you send the logs of {w.ip(site)}? {w.words(30)}\n"
    else:
        sender = f"security@site{site:02d}.example.org"
        extra = {}
        body = f"The host is isolated now. {w.words(w.rng.randint(20, 200))}\n"
    mid = w.message_id(CSIRT_DOMAIN if csirt else f"site{site:02d}.example.org")
    extra |= {"In-Reply-To": parent_id, "References": parent_id}
    quoted = "\n".join("> " + w.words(12) for _ in range(w.rng.randint(2, 30)))
    raw = _plain(
        _headers(sender, f"Re: {subject}", mid, date, extra),
        f"{body}\nOn a previous day the site wrote:\n{quoted}\n",
    )
    return raw, "csirt_reply" if csirt else "site_reply"


def _third_party(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    site = w.rng.randrange(SITE_COUNT)
    mid = w.message_id("cert.example.net")
    body = (
        "TLP:GREEN\n\nWe observed stratum mining traffic from "
        f"{w.ip(site)} to {w.ip()}:3333 between 02:00 and 04:00 UTC.\n"
        f"{w.words(w.rng.randint(30, 300))}\n"
    )
    headers = _headers(
        "National CERT <reporter@cert.example.net>",
        f"[TLP:GREEN] Mining traffic from {w.ip(site)}",
        mid,
        date,
    )
    return _plain(headers, body), "third_party"


def _forward(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    inner, _ = _report(w, date - dt.timedelta(hours=2))
    site = w.rng.randrange(SITE_COUNT)
    headers = _headers(
        "ngi@ngi.example.org",
        f"Fwd: possible incident at SITE-{site:02d}",
        w.message_id("ngi.example.org"),
        date,
    )
    parts = [
        _text_part(f"Forwarding what we got. {w.words(30)}\n"),
        "Content-Type: message/rfc822\r\n\r\n" + inner.decode("utf-8"),
    ]
    return _multipart(headers, parts), "forward"


def _html(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    raw, _ = _third_party(w, date)
    head, _, body = raw.decode("utf-8").partition("\r\n\r\n")
    headers = [h for h in head.split("\r\n") if not h.startswith("Content-Type")]
    paragraphs = "".join(f"<p>{w.words(25)}</p>" for _ in range(w.rng.randint(3, 60)))
    html = f"<html><body><p>{body}</p>{paragraphs}</body></html>"
    parts = [
        _text_part(body),
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html,
    ]
    return _multipart(headers, parts, "alternative"), "html"


def _log_attachment(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    raw, _ = _report(w, date)
    head, _, body = raw.decode("utf-8").partition("\r\n\r\n")
    headers = [h for h in head.split("\r\n") if not h.startswith("Content-Type")]
    site = w.threads[-1][1]
    size = int(w.rng.uniform(10_000, 300_000))
    parts = [_text_part(body), _text_part(w.log_lines(site, size), "auth.log")]
    return _multipart(headers, parts), "log_attachment"


def _binary_attachment(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    raw, _ = _third_party(w, date)
    head, _, body = raw.decode("utf-8").partition("\r\n\r\n")
    headers = [h for h in head.split("\r\n") if not h.startswith("Content-Type")]
    # Log-uniform from 30 KB to 750 KB of payload: about 1 MB once encoded.
    size = int(30_000 * (25 ** w.rng.random()))
    payload = base64.encodebytes(w.rng.randbytes(size)).decode("ascii")
    attachment = (
        'Content-Type: application/vnd.tcpdump.pcap; name="capture.pcap"\r\n'
        'Content-Disposition: attachment; filename="capture.pcap"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + payload.replace("\n", "\r\n")
    )
    return _multipart(headers, [_text_part(body), attachment]), "binary_attachment"


def _auto_reply(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    parent = _thread(w)
    subject = parent[2] if parent else "your mail"
    site = parent[1] if parent else 0
    extra = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}
    if parent:
        extra["In-Reply-To"] = parent[0]
    headers = _headers(
        f"admin@site{site:02d}.example.org",
        f"Out of office: {subject}",
        w.message_id(f"site{site:02d}.example.org"),
        date,
        extra,
    )
    body = "I am out of the office until Monday and read no mail.\n" * 16
    return _plain(headers, body), "auto_reply"


def _bounce(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    headers = _headers(
        "MAILER-DAEMON@mx.example.net",
        "Undelivered Mail Returned to Sender",
        w.message_id("mx.example.net"),
        date,
    )
    report = (
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; gone@site01.example.org\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
    )
    parts = [_text_part("The mail could not be delivered.\n"), report]
    return _multipart(headers, parts, 'report; report-type="delivery-status"'), "bounce"


def _broken(w: _Writer, date: dt.datetime) -> tuple[bytes, str]:
    choice = w.rng.randrange(5)
    mid = w.message_id("broken.example.net")
    headers = _headers("someone@broken.example.net", "broken mail", mid, date)
    if choice == 0:  # multipart without a boundary
        text = "\r\n".join([*headers, "Content-Type: multipart/mixed", "", "body\r\n"])
        return text.encode(), "broken"
    if choice == 1:  # a charset nobody knows
        text = "\r\n".join(
            [*headers, "Content-Type: text/plain; charset=x-unknown-9", "", "caf\xe9"]
        )
        return text.encode("latin-1"), "broken"
    if choice == 2:  # raw 8-bit and a NUL byte in the headers and body
        head = "\r\n".join(headers).encode() + b"\r\nX-Note: caf\xe9\x00 \xff\r\n"
        return head + b"\r\nbody with a \x00 NUL and \xfe\xff bytes\r\n", "broken"
    if choice == 3:  # cut short inside a base64 part
        raw, _ = _binary_attachment(w, date)
        return raw[: len(raw) // 2], "broken"
    # No header block at all.
    return b"just some text with no headers at all\r\n" * 20, "broken"


_MAKERS = {
    "report": _report,
    "site_reply": lambda w, d: _reply(w, d, csirt=False),
    "csirt_reply": lambda w, d: _reply(w, d, csirt=True),
    "third_party": _third_party,
    "forward": _forward,
    "html": _html,
    "log_attachment": _log_attachment,
    "binary_attachment": _binary_attachment,
    "auto_reply": _auto_reply,
    "bounce": _bounce,
    "broken": _broken,
}


def generate(count: int, seed: int = 7, end: dt.datetime = NOW) -> Iterator[Generated]:
    """`count` mails, oldest first, arriving over the days before `end`."""
    writer = _Writer(seed)
    names = [name for name, _ in KINDS]
    weights = [weight for _, weight in KINDS]
    span = dt.timedelta(days=60)
    for n in range(count):
        arrived = end - span + span * (n + 1) / (count + 1)
        arrived = arrived.replace(microsecond=0)
        kind = writer.rng.choices(names, weights)[0]
        raw, made = _MAKERS[kind](writer, arrived - dt.timedelta(seconds=30))
        yield Generated(raw, arrived, made)
