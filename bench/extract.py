"""Extraction throughput over generated realistic report text (run by hand).

Prints one JSON line: megabytes of text, seconds, MB/s and findings count.
The text mixes what sites send: template reports, prose, sshd and apache
logs, netstat output, CSV exports and defanged indicators.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import random
import time

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


def generate(size: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    pieces, total = [], 0
    shapes = (_TEMPLATE, _PROSE, _SSHD, _SSHD, _APACHE, _NETSTAT, _CSV, _DN)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--part-size", type=int, default=50_000)
    args = parser.parse_args()
    text = generate(int(args.megabytes * 1_000_000))
    size = args.part_size
    parts = tuple(
        TextPart(str(i + 1), "text/plain", "attachment" if i % 2 else "body", chunk)
        for i, chunk in enumerate(text[o : o + size] for o in range(0, len(text), size))
    )
    context = extract.Context(
        site_networks=(ipaddress.ip_network("192.0.2.0/25"),),
        timezone="Europe/Amsterdam",
        reference_time=dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC),
        site_domains=("site-a.example.org",),
    )
    # Load the bundled suffix list and compile the patterns before timing.
    extract.extract((TextPart("0", "text/plain", "body", "wn1.example.org"),), context)
    start = time.perf_counter()
    findings = extract.extract(parts, context)
    seconds = time.perf_counter() - start
    megabytes = len(text.encode()) / 1_000_000
    print(
        json.dumps(
            {
                "bench": "extract",
                "megabytes": round(megabytes, 2),
                "parts": len(parts),
                "seconds": round(seconds, 3),
                "mb_per_s": round(megabytes / seconds, 2),
                "findings": len(findings),
            }
        )
    )


if __name__ == "__main__":
    main()
