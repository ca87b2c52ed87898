"""The fetch stage: sources that hand deliveries to the pipeline.

IMAP for production, a local Maildir for the embedded default, and files
(.eml, mbox, Maildir) for `mailbot ingest`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mailbot.process import Outcome


@dataclass
class PollResult:
    fetched: int = 0
    processed: int = 0
    duplicates: int = 0
    # This very delivery was stored before (a file ingested again, a UID
    # fetched again after a crash): the mail is counted once, already.
    already_stored: int = 0
    quarantined: int = 0
    pending: int = 0
    # Listed by the server, then moved or deleted before their body came.
    gone: int = 0
    incidents: list[str] = field(default_factory=list)
    # The reasons of the mails set aside for a fault of the configuration (a
    # template), not of the mail: the command says so and fails.
    misconfigured: list[str] = field(default_factory=list)
    # The same for mails of earlier passes retried in this one (poll's
    # resume_received): set aside again, the fault was met in this run too.
    retried_misconfigured: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        """The mails done with: fetched, kept pending, or gone."""
        return self.fetched + self.pending + self.gone

    def counts(self) -> dict[str, object]:
        """What a command prints: the counts and the incidents."""
        faults = ("misconfigured", "retried_misconfigured")
        return {k: v for k, v in vars(self).items() if k not in faults}

    def summary(self) -> str:
        return (
            f"{self.fetched} fetched, {self.processed} processed, "
            f"{self.duplicates} duplicates, {self.already_stored} already stored, "
            f"{self.quarantined} quarantined, {self.pending} pending"
        )

    def count(self, result: str, incident: str | None = None) -> None:
        self.fetched += 1
        if result == "processed":
            self.processed += 1
        elif result == "duplicate":
            self.duplicates += 1
        elif result == "refetched":
            self.already_stored += 1
        elif result == "quarantined":
            self.quarantined += 1
        if incident and incident not in self.incidents:
            self.incidents.append(incident)

    def add(self, outcome: Outcome) -> None:
        """Count the outcome of one delivery."""
        self.count(outcome.result, outcome.incident)
        if outcome.configuration:
            self.misconfigured.append(outcome.reason or "")
