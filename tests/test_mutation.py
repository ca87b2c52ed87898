"""Mutated corpus mail through the pipeline: nothing escapes, all accounted.

A seeded mutator (the same mails on every run; pytest --mutation-seed picks
another set, --mutations another count) breaks the real corpus the
ways mail breaks in the wild: cut, bytes flipped, CR/LF scattered, headers
doubled, encoded words and boundaries mangled, 8-bit and NUL bytes, deep
nesting, parts glued from two mails. At least 10,000 of them go through
`process_delivery`; none may raise, and `status` must count each exactly
once as a mail, a duplicate or a quarantined mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from mailbot_env import make_app

from mailbot import views
from mailbot.db.models import Mail
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 10, 0, tzinfo=dt.UTC)
COUNT = 10_000
# Corpus mails larger than this are cut first: the mutants stay quick.
MAX_SEED_BYTES = 16 * 1024

Mutation = Callable[[random.Random, bytes, bytes], bytes]


def _cut(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)]


def _flip(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 20)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _line_breaks(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 15)):
        data.insert(rng.randrange(len(data) + 1), rng.choice(b"\r\n"))
    return bytes(data)


def _endings(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    ending = rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"])
    return re.sub(rb"\r?\n", ending, raw)


def _header_dup(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    head, sep, body = (
        raw.partition(b"\n\n")
        if b"\r\n\r\n" not in raw
        else (raw.partition(b"\r\n\r\n"))
    )
    lines = head.splitlines(keepends=True)
    if not lines:
        return raw
    for _ in range(rng.randint(1, 5)):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
    return b"".join(lines) + sep + body


HOSTILE_HEADERS = [
    b"Subject: =?utf-8?q?a=0D=0ABcc=3A_x=40evil.example?=",
    b"Subject: =?x-unknown?b?////?= =?utf-8?q?=ZZ?=",
    b"From: =?utf-8?b?" + b"A" * 3000 + b"?= <a@b>",
    b"From: <>",
    b'From: "\\" <@@@>,,,;;; <a@b@c>',
    b"Reply-To: noreply@x.org, =?utf-8?q?=00?= <a@b>",
    b"Message-ID: <[" + b"x" * 2000 + b"]>",
    b"In-Reply-To: <<<>>>",
    b"References: " + b"<r@x> " * 500,
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999",
    b"Content-Type: multipart/mixed; boundary=",
    b'Content-Type: text/plain; charset="iso-8859-8-i"',
    b"Content-Transfer-Encoding: base64",
    b"Auto-Submitted: auto-replied",
    b"Subject: [EGI-20261204-01] [TLP:RED] Re: Re: AW: Fwd:",
    b"X-\xff\xfe: \x00\x01\x02",
    b"Received: " + b"from x " * 400,
]


def _hostile_header(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    return rng.choice(HOSTILE_HEADERS) + b"\r\n" + raw


def _mangle_boundary(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    found = re.findall(rb'boundary="?([^";\r\n]+)', raw, re.I)
    if not found:
        return _flip(rng, raw, _other)
    boundary = rng.choice(found)
    return raw.replace(
        b"--" + boundary, rng.choice([b"--", b"--x", b""]), rng.randint(1, 3)
    )


def _eight_bit(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    junk = bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 40)))
    at = rng.randrange(len(raw) + 1)
    return raw[:at] + junk + (b"\x00" if rng.random() < 0.3 else b"") + raw[at:]


def _nest(rng: random.Random, raw: bytes, _other: bytes) -> bytes:
    # Deep nesting costs the parser time per level: deep ones are rarer.
    depth = 400 if rng.random() < 0.05 else rng.choice([3, 20, 60])
    head = b"From: nest@x.org\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    opening = b"".join(
        b"Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n" % (n, n)
        for n in range(depth)
    )
    closing = b"".join(b"\r\n--n%d--" % n for n in reversed(range(depth)))
    return head + opening + b"Content-Type: message/rfc822\r\n\r\n" + raw + closing


def _glue(rng: random.Random, raw: bytes, other: bytes) -> bytes:
    return raw[: rng.randrange(len(raw) + 1)] + other[rng.randrange(len(other) + 1) :]


def _swap_body(rng: random.Random, raw: bytes, other: bytes) -> bytes:
    head = raw.split(b"\n\n", 1)[0]
    body = other.split(b"\n\n", 1)[-1]
    return head + b"\n\n" + body


MUTATIONS: list[Mutation] = [
    _cut,
    _flip,
    _line_breaks,
    _endings,
    _header_dup,
    _hostile_header,
    _mangle_boundary,
    _eight_bit,
    _nest,
    _glue,
    _swap_body,
]


def mutants(seeds: list[bytes], count: int, seed: int):  # type: ignore[no-untyped-def]
    """`count` mutated mails, one to three mutations each, reproducibly."""
    rng = random.Random(seed)
    for _ in range(count):
        raw = rng.choice(seeds)
        for _step in range(rng.randint(1, 3)):
            raw = rng.choice(MUTATIONS)(rng, raw, rng.choice(seeds))
        yield raw


def _seeds(corpus_dir: Path) -> list[bytes]:
    files = sorted(
        p
        for p in corpus_dir.rglob("*")
        if p.is_file()
        and p.suffix in (".eml", ".msg", ".txt", "")
        and p.name != "MANIFEST.tsv"
    )
    seeds = [p.read_bytes()[:MAX_SEED_BYTES] for p in files]
    return [s for s in seeds if s.strip()]


WORKERS = 2
LIMITS = {
    "MAILBOT_BRAKE_MAX_PER_HOUR": "1000000",
    "MAILBOT_BRAKE_MAX_PER_RECIPIENT_PER_DAY": "1000000",
    "MAILBOT_BRAKE_MAX_PER_INCIDENT_PER_DAY": "1000000",
}


def run_share(
    corpus_dir: str, workdir: str, database_url: str, worker: int, count: int, seed: int
) -> dict[str, int]:
    """Process every WORKERS-th mutant, starting at `worker`, in this process."""
    seeds = _seeds(Path(corpus_dir))
    Path(workdir).mkdir(parents=True, exist_ok=True)
    app = make_app(Path(workdir), database_url, now=NOW, extra=LIMITS)
    logging.getLogger("mailbot").setLevel(logging.CRITICAL)
    logging.getLogger("mailparser").setLevel(logging.CRITICAL)
    results: Counter[str] = Counter()
    try:
        for number, raw in enumerate(mutants(seeds, count, seed)):
            if number % WORKERS != worker:
                continue
            # Spread over weeks, as mail arrives: not ten thousand in one day.
            arrived = NOW + dt.timedelta(minutes=7 * number)
            app.clock.set(arrived)
            # An exception escaping process_delivery ends the worker, and the
            # test with it, showing the mutant's number.
            try:
                outcome = process_delivery(
                    app, RawMail(raw, arrived, f"mutant:{number}")
                )
            except BaseException as exc:
                raise AssertionError(f"mutant {number} (seed {seed}) raised") from exc
            results[outcome.result] += 1
    finally:
        app.close()
    return dict(results)


def test_ten_thousand_mutants_all_accounted(
    corpus_dir: Path, tmp_path: Path, database_url: str, pytestconfig: pytest.Config
) -> None:
    # Fewer only when asked for (pytest --mutations N).
    count = pytestconfig.getoption("mutations") or COUNT
    seed = pytestconfig.getoption("mutation_seed")
    assert len(_seeds(corpus_dir)) > 500, "the corpus seems incomplete"
    # Migrate once before the workers start; they share the database.
    make_app(tmp_path, database_url, now=NOW, extra=LIMITS).close()
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as pool:
        shares = [
            pool.submit(
                run_share,
                str(corpus_dir),
                str(tmp_path / f"w{k}"),
                database_url,
                k,
                count,
                seed,
            )
            for k in range(WORKERS)
        ]
        results: Counter[str] = Counter()
        for share in shares:
            results.update(share.result())
    elapsed = time.monotonic() - started
    app = make_app(tmp_path, database_url, now=NOW, extra=LIMITS)
    status = views.status(app, None)
    assert sum(results.values()) == count
    assert status["mails"] + status["duplicates"] + status["quarantined"] == count
    assert status["quarantined"] == results["quarantined"]
    assert status["duplicates"] == results["duplicate"]
    with app.db.transaction() as session:
        stuck = session.query(Mail).filter_by(state="received").count()
        reasons = Counter(
            (m.stage, (m.error or "")[:60])
            for m in session.query(Mail).filter_by(state="quarantined")
        )
    app.close()
    assert stuck == 0
    print(
        f"\n{count} mutants in {elapsed:.0f} s: {dict(results)}; quarantined: "
        f"{reasons.most_common(10)}"
    )
