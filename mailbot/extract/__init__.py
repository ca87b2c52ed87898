"""The extraction stage: Incident Analysis Guideline values found in a mail's text.

`extract` reads every text part of a mail and returns one `Finding` per value,
each with the part and line it came from (`extract_noted` also says what its
budgets left unread); `is_closure_report` says whether a site's mail is the
closure report of the procedure.
"""

from mailbot.extract.core import extract, extract_noted, is_closure_report
from mailbot.extract.fang import refang
from mailbot.extract.quotes import own_text
from mailbot.extract.values import (
    EXPECTED_FIELDS,
    FACTS,
    FIELDS,
    UNCLASSIFIED,
    Context,
    Finding,
    missing,
)

__all__ = [
    "EXPECTED_FIELDS",
    "FACTS",
    "FIELDS",
    "UNCLASSIFIED",
    "Context",
    "Finding",
    "extract",
    "extract_noted",
    "is_closure_report",
    "missing",
    "own_text",
    "refang",
]
