"""The free-text items of a part: template answers, bullets and prose.

A line under a heading of a free-text field (`Evidence:`, `Actions taken:`)
is an item of that field, continued by lower-case lines; elsewhere a line of
prose goes to the fields its words speak to (prose.py), read whole however
the mail client wrapped it, and a log or timeline record is an item of its
own. The reader (part.py) hands each line here after its indicators and
times, and says when a paragraph or section ends.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

from mailbot.extract import prose, roles
from mailbot.extract.assign import INDICATOR_SECTIONS
from mailbot.extract.collect import Collector
from mailbot.extract.layout import continues, wraps_onto
from mailbot.extract.placeholders import labelled_non_answer, non_answer
from mailbot.extract.reading import Add, Line, State

TEXT_SECTIONS: Final = frozenset(
    {
        "detected_by", "evidence", "actions_taken", "losses", "virtual_appliances",
        "vulnerabilities", "lessons_learnt", "resolution",
    }
)  # fmt: skip
EVIDENCE_CAP: Final = 200
# Lines of one written line that a mail client wrapped, at most.
_WRAPPED_LINES: Final = 12


class TextItems:
    """The free-text items of one part, as its lines come."""

    def __init__(
        self,
        part_id: str,
        kind: str,
        state: State,
        out: Collector,
        add: Add,
        skipped: Counter[str],
    ) -> None:
        self.part_id, self.kind, self.state = part_id, kind, state
        self.out, self.add, self.skipped = out, add, skipped

    def text(self, line: Line, body: str, has_indicator: bool, record: bool) -> None:
        # `record`: the line opens as a log or timeline record (layout.RECORD).
        state = self.state
        if state.section in TEXT_SECTIONS:
            self._section_item(line, body)
            return
        if state.section in INDICATOR_SECTIONS or state.section == "x509_dns":
            return
        # A line of this length is a dump, not prose with free-text items.
        if self.kind == "attachment" or state.columns or len(line.text) > 1000:
            self.flush_prose()
            return
        run = state.prose
        if record and not wraps_onto(run, line.text):
            # A record of a log or a timeline is an item of its own.
            self.flush_prose()
            self._text_item(line.number, line.text, has_indicator, True)
            return
        # Mail clients wrap long lines: a line is read whole, whichever
        # lines the client cut it into.
        if run and (not continues(line.text) or prose.starts_item(line.text)):
            self.flush_prose()
        run.append((line.number, line.text, has_indicator))
        if not prose.wrapped(line.text) or len(run) > _WRAPPED_LINES:
            self.flush_prose()

    def flush_prose(self) -> None:
        """Read the line gathered so far, joined as its writer wrote it."""
        run = self.state.prose
        if not run:
            return
        text = " ".join(piece.strip() for _, piece, _ in run)
        has_indicator = any(had for _, _, had in run)
        number = run[0][0]
        run.clear()
        self._text_item(number, text, has_indicator, False)

    def _text_item(
        self, number: int, text: str, has_indicator: bool, is_record: bool
    ) -> None:
        state = self.state
        if not has_indicator and labelled_non_answer(text):
            return
        for name in prose.text_fields(text, has_indicator, is_record):
            if name == "evidence":
                if state.evidence_items >= EVIDENCE_CAP:
                    self.skipped["evidence lines beyond the cap"] += 1
                    continue
                state.evidence_items += 1
            self.add(number, name, prose.item_text(text), "text", roles.NONE)

    def _section_item(self, line: Line, body: str) -> None:
        item = self.state.item
        text, bullet = prose.item_and_bullet(body)
        if not text:
            return
        joins = (
            item
            and not bullet
            and not item[1].endswith((".", "!", "?", ":"))
            and text[:1].islower()
        )
        if joins:
            item[1] = item[1] + " " + text
            return
        self.flush_item()
        self.state.item = [self.state.section, text, line.number]

    def flush_item(self) -> None:
        self.flush_prose()
        item = self.state.item
        if item and not non_answer(item[1]):
            self.out.add(item[0], item[1], "text", self.part_id, item[2], roles.NONE)
        self.state.item = []
