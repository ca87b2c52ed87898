"""Extraction throughput over generated realistic report text (run by hand).

Prints one JSON line: megabytes of text, seconds, MB/s and findings count.
The text mixes what sites send: template reports, prose, sshd and apache
logs, netstat output, CSV exports and defanged indicators; each part of
`--part-size` characters is one mail, alternately a body and an attachment.
`--only KIND` generates one kind of text alone (a log pasted into a body,
`--only sshd --part-kind body`, is read differently from the same log
attached: quoted text, free-text fields, the dates of prose).
`--reports DIR` times the labelled reports of DIR instead (each report once
per round);
`--corpus DIR` the text parts of every mail that DIR/MANIFEST.tsv lists (the
real corpus, /work/shared/corpus), parsed before the clock starts, each
read as a third party's mail (its senders' domains are not indicators). Every
mode also reports the slowest single mail.

`mb_per_s` is wall time; `cpu_mb_per_s` is the process's CPU time, the
figure to compare on a machine that other jobs share. To compare two
versions, run `bench/extract_compare.py`, which alternates them in one run.
`--findings` prints every finding instead (mail, field, value, kind, part,
line; one tab-separated line each, in the order `extract` gives them), so
that two versions can be checked to find the same (`extract_compare.py
--findings`). `--vary-digits N` reads each mail N more times, each time with
every ASCII digit of its text replaced at random (seeded): the lines then
share their shapes with lines seen before, as a log's records do, and the
digits decide afresh.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime as dt
import ipaddress
import json
import random
import sys
import time
from pathlib import Path

from mailbot import extract
from mailbot.mail import TextPart

_TEMPLATE = """Dear EGI CSIRT,

1. Detected by: our Pakiti monitoring and a user complaint
2. Systems affected:
   - wn{n}.site-a.example.org (192.0.2.{a})
3. Evidence:
   - suspicious file /tmp/.x/kworker found on 2026-12-04 08:{m:02d} UTC
   - outgoing connections to 203.0.113.{b} on port 3333
4. Actions taken: host isolated at 2026-12-04 09:{m:02d} CET, disk image taken
5. Attacker IP(s): 203.0.113.{b}, 2001:db8:bad::{b}
6. Vulnerabilities: CVE-2026-{cve}
"""
_PROSE = (
    "last night we saw SSH logins from 203.0.113.{b} to ui{n}.site-a.example.org at"
    " 23:{m:02d} UTC, using the account of a user who is on holiday; the miner was"
    " downloaded from hxxp://cdn{n}.badactor.example[.]com/x/miner.tar.gz and ran"
    " version 5.24.12.1335 of the agent.\n"
)
_SSHD = (
    "Dec  4 02:{m:02d}:07 ui02 sshd[2{n}]: Failed password for invalid user admin"
    " from 203.0.113.{b} port 4{n} ssh2\n"
)
_APACHE = (
    '203.0.113.{b} - - [04/Dec/2026:03:{m:02d}:10 +0100] "GET /cgi-bin/status?cmd=id'
    ' HTTP/1.1" 200 512 "-" "curl/8.5.0"\n'
)
_NETSTAT = (
    "tcp4       0      0 192.0.2.{a}.22         203.0.113.{b}.5{n}     ESTABLISHED\n"
)
_CSV = "2026-12-04T01:{m:02d}:03Z,203.0.113.{b},192.0.2.{a},22,SSH brute force\n"
_DN = "certificate /DC=org/DC=example/OU=People/CN=User {n} was used by the attacker\n"


_KINDS = {
    "template": _TEMPLATE, "prose": _PROSE, "sshd": _SSHD, "apache": _APACHE,
    "netstat": _NETSTAT, "csv": _CSV, "dn": _DN,
}  # fmt: skip


def generate(size: int, seed: int = 7, only: str | None = None) -> str:
    rng = random.Random(seed)
    pieces, total = [], 0
    shapes = (_TEMPLATE, _PROSE, _SSHD, _SSHD, _APACHE, _NETSTAT, _CSV, _DN)
    if only is not None:
        shapes = (_KINDS[only],)
    while total < size:
        shape = rng.choice(shapes)
        piece = shape.format(
            n=rng.randrange(1, 999),
            a=rng.randrange(1, 127),
            b=rng.randrange(1, 254),
            m=rng.randrange(60),
            cve=rng.randrange(1000, 99999),
        )
        pieces.append(piece)
        total += len(piece)
    return "".join(pieces)


def _generated(
    megabytes: float, size: int, only: str | None = None, kind: str | None = None
):
    # One mail per part: a mail's value budget would otherwise leave most
    # of the text unread, and the figure would count text never read.
    text = generate(int(megabytes * 1_000_000), only=only)
    chunks = (text[o : o + size] for o in range(0, len(text), size))
    return [
        (
            (
                TextPart(
                    "1",
                    "text/plain",
                    kind or ("attachment" if i % 2 else "body"),
                    chunk,
                ),
            ),
            _context(),
            f"generated {i + 1}",
        )
        for i, chunk in enumerate(chunks)
    ]


def _reports(directory: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_extract_reports import all_reports

    reports = all_reports(directory)
    return [(r.parts, r.context, r.name) for r in reports]


def _corpus(directory: Path):
    from mailbot.parse import parse

    with (directory / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    mails = []
    for row in rows:
        parsed = parse((directory / row["local_path"]).read_bytes())
        context = dataclasses.replace(
            _context(), subject=parsed.subject or "", **_as_reporter(parsed)
        )
        mails.append((parsed.text_parts, context, row["local_path"]))
    return mails


def _as_reporter(parsed) -> dict[str, tuple[str, ...]]:  # type: ignore[no-untyped-def]
    """The corpus is third parties' mail (no sender is the bench's site): its
    senders' domains, as mailbot gives them to a reporter's mail. Nothing
    for an extractor that predates them (extract_compare's baseline)."""
    if "reporter_domains" not in {f.name for f in dataclasses.fields(extract.Context)}:
        return {}
    from mailbot.context import reporter_domains
    from mailbot.sites import Directory, Site

    site = Site("SITE-A", domains=_context().site_domains)
    return {"reporter_domains": reporter_domains(parsed, Directory(sites=(site,)))}


def _timed(mails, rounds: int) -> tuple[int, tuple[float, str]]:
    """Findings of every mail, and the slowest mail's CPU seconds and name."""
    findings, slowest = 0, (0.0, "")
    for _ in range(rounds):
        _forget_lines()
        for parts, context, name in mails:
            start = time.process_time()
            findings += len(extract.extract(parts, context))
            slowest = max(slowest, (time.process_time() - start, name))
    return findings, slowest


def _digit_variants(mails, count: int):
    rng = random.Random(11)

    def varied(text: str) -> str:
        return "".join(rng.choice(_DIGITS) if c in _DIGITS else c for c in text)

    return [
        (
            tuple(dataclasses.replace(p, text=varied(p.text)) for p in parts),
            context,
            f"{name} digits {n + 1}",
        )
        for n in range(count)
        for parts, context, name in mails
    ]


_DIGITS = "0123456789"


def _print_findings(mails) -> None:
    """Every finding of every mail, one tab-separated line each."""
    for parts, context, name in mails:
        for found in extract.extract(parts, context):
            row = (name, found.field, found.value, found.kind, found.part, found.line)
            print("\t".join(str(item).replace("\n", "\\n") for item in row))


def _forget_lines() -> None:
    # The extractor reads a line (or a value) it has seen before from a
    # cache, and a line of a shape it has seen from that shape's plan; the
    # same reports read again each round would make that look better than a
    # stream of new mail does. Every cache of every version is emptied.
    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("mailbot.extract."):
            continue
        for value in list(vars(module).values()):
            if hasattr(value, "cache_clear"):
                value.cache_clear()
        for name in ("_PLANS", "_EARLIER_PLANS", "_KNOWN"):
            known = getattr(module, name, None)
            if isinstance(known, dict):
                known.clear()


def _context() -> extract.Context:
    return extract.Context(
        site_networks=(ipaddress.ip_network("192.0.2.0/25"),),
        timezone="Europe/Amsterdam",
        reference_time=dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC),
        site_domains=("site-a.example.org",),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument(
        "--only", choices=sorted(_KINDS), help="generate text of this kind only"
    )
    parser.add_argument(
        "--part-kind",
        choices=("body", "attachment"),
        help="every generated part a body or an attachment (default: alternately)",
    )
    parser.add_argument("--part-size", type=int, default=50_000)
    parser.add_argument("--reports", type=Path, help="a directory of reports")
    parser.add_argument("--corpus", type=Path, help="a directory with MANIFEST.tsv")
    parser.add_argument(
        "--rounds", type=int, help="times each mail is read (20 for reports, else 1)"
    )
    parser.add_argument(
        "--findings", action="store_true", help="print every finding, not the time"
    )
    parser.add_argument(
        "--vary-digits", type=int, default=0, help="digit variants of each mail"
    )
    args = parser.parse_args()
    rounds = args.rounds or (20 if args.reports else 1)
    if args.reports:
        mails, text = _reports(args.reports), str(args.reports)
    elif args.corpus:
        mails, text = _corpus(args.corpus), str(args.corpus)
    else:
        mails = _generated(args.megabytes, args.part_size, args.only, args.part_kind)
        text = "generated" + (f" {args.only}" if args.only else "")
    mails += _digit_variants(mails, args.vary_digits)
    if args.findings:
        _print_findings(mails)
        return
    # Load the bundled suffix list and compile the patterns before timing.
    probe = (TextPart("0", "text/plain", "body", "wn1.example.org at 10:00"),)
    extract.extract(probe, _context())
    wall, cpu = time.perf_counter(), time.process_time()
    findings, slowest = _timed(mails, rounds)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size = rounds * sum(len(p.text.encode()) for ps, _, _ in mails for p in ps) / 1e6
    result = {
        "bench": "extract",
        "text": text,
        "megabytes": round(size, 2),
        "mails": len(mails) * rounds,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "mb_per_s": round(size / wall, 2),
        "cpu_mb_per_s": round(size / cpu, 2),
        "findings": findings,
        "slowest_mail_cpu_seconds": round(slowest[0], 3),
        "slowest_mail": slowest[1],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
