"""Mails per second: plain mail-parser versus mailbot's parse stage.

    python bench/parse.py [--corpus DIR] [--rounds N]

Every mail of the corpus (MANIFEST.tsv) is read into memory first, so disk
time counts for neither side. The floor is `mailparser.parse_from_bytes`
with the attributes a caller reads; mailbot's `parse()` does that work plus
its own (part numbering, charset repair, HTML to text). Each side runs
`--rounds` times, interleaved, and the best round counts.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mailparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.parse import parse  # noqa: E402 - after the path is set

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def load(corpus: Path) -> list[bytes]:
    """The raw bytes of every mail in the corpus's MANIFEST, in its order."""
    lines = (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    return [(corpus / line.split("\t", 1)[0]).read_bytes() for line in lines[1:]]


def mail_parser_floor(raw: bytes) -> None:
    """mail-parser's parse with every attribute a caller would read."""
    try:
        mail = mailparser.parse_from_bytes(raw)
    except Exception:  # noqa: BLE001 - a failed parse still took its time
        return
    for name in (
        "subject",
        "from_",
        "to",
        "cc",
        "reply_to",
        "date",
        "message_id",
        "in_reply_to",
        "references",
        "headers",
        "text_plain",
        "text_html",
        "text_not_managed",
        "attachments",
        "defects",
        "received",
    ):
        getattr(mail, name)


def mailbot_parse(raw: bytes) -> None:
    parse(raw)


def one_round(function: Callable[[bytes], None], mails: list[bytes]) -> float:
    started = time.perf_counter()
    for raw in mails:
        function(raw)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    # mail-parser warns about every part type it does not handle; the
    # benchmark measures parsing, not log output.
    logging.disable(logging.WARNING)
    mails = load(args.corpus)
    best = {"mail-parser": float("inf"), "mailbot": float("inf")}
    for _ in range(args.rounds):
        floor = one_round(mail_parser_floor, mails)
        best["mail-parser"] = min(best["mail-parser"], floor)
        best["mailbot"] = min(best["mailbot"], one_round(mailbot_parse, mails))
    rates = {name: len(mails) / seconds for name, seconds in best.items()}
    print(f"{len(mails)} mails, best of {args.rounds} rounds")
    for name, rate in rates.items():
        print(f"  {name:12} {rate:8.0f} mails/s")
    print(f"  ratio        {rates['mailbot'] / rates['mail-parser']:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
