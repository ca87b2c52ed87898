"""The values the command line's options and arguments take, checked as
argparse reads them (cli.py builds the parser)."""

from __future__ import annotations

import argparse
from typing import Any


def given(text: str) -> str:
    """An option's value that may not be empty: `--config ""` looked for
    ./mailbot.toml, `demo --dir ""` used a new temporary folder and
    `--log-format ""` the default, each as if the option were left out."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "is empty: give a value, or leave the option out for its default"
        )
    return text


class Once(argparse.Action):
    """An option that may be given more than once only with one value:
    `--now A ... --now B` took B, silently."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None and before != values:
            parser.error(
                f"{option_string} given twice, {before!r} and {values!r}: give it once"
            )
        setattr(namespace, self.dest, values)


# The largest ID a row can have: mailbot's ID columns are INTEGER, 32 bits
# on PostgreSQL (SQLite's 64-bit rowids never get near it either).
LARGEST_ID = 2**31 - 1


def row_id(text: str) -> int:
    """An ID given on the command line (outbox, quarantine): a whole number,
    spaces around it allowed. A number past LARGEST_ID (or 0) is one no row
    has: the command answers it as it answers any unknown ID (fits_id)."""
    value = text.strip()
    if not value.isascii() or not value.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ID: give the number the listing shows"
        )
    return int(value)


def fits_id(value: int) -> bool:
    """Whether a row may have the ID `value`: looked up, a larger one failed
    with OverflowError on SQLite and "integer out of range" on PostgreSQL."""
    return 0 < value <= LARGEST_ID
