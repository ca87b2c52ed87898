"""Every mail of ../shared/corpus through store, parse, classify and record.

The corpus is real-world mail from public test suites: broken MIME, bounces,
auto-replies, abuse reports, odd charsets. Nothing may escape the pipeline;
each mail ends processed (threaded or kept unattached), recognised as a
duplicate of an earlier one, or quarantined with its stage and a reason.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from mailbot_env import make_app
from sqlalchemy import func, select

from mailbot import views
from mailbot.db.models import Mail
from mailbot.mail import RawMail
from mailbot.process import process_delivery

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
# Machine-written abuse reports (Auto-Submitted: auto-generated, X-ARF, ARF,
# noreply senders): each a third party's report that opens an incident,
# flagged `automated` so that nothing answers it.
MACHINE_REPORTS = (
    "abuseio/blocklistde/",
    "abuseio/netcraft/",
    "abuseio/cyscon/",
    "abuseio/projecthoneypot/",
    "abuseio/google/",
    "abuseio/spamexperts/",
    "abuseio/feedback-loop/",
    "abuseio/ip-echelon/",
)


def _manifest(corpus_dir: Path) -> list[Path]:
    with (corpus_dir / "MANIFEST.tsv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [corpus_dir / row["local_path"] for row in rows]


def test_whole_corpus_is_accounted_for(
    corpus_dir: Path, tmp_path: Path, database_url: str
) -> None:
    paths = _manifest(corpus_dir)
    assert len(paths) >= 700, "the manifest lists the whole corpus"
    app = make_app(tmp_path, database_url, now=NOW)
    results: dict[str, int] = {"processed": 0, "duplicate": 0, "quarantined": 0}
    reports: list[int] = []
    for path in paths:
        delivery = RawMail(path.read_bytes(), NOW, str(path))
        outcome = process_delivery(app, delivery)
        results[outcome.result] += 1
        name = path.relative_to(corpus_dir).as_posix()
        if name.startswith(MACHINE_REPORTS) and outcome.result == "processed":
            assert outcome.incident, f"{name} opened no incident"
            reports.append(outcome.mail_id or 0)
        if outcome.result == "quarantined":
            assert outcome.reason, f"{path} quarantined without a reason"

    assert sum(results.values()) == len(paths)
    status = views.status(app, None)
    assert status["mails"] == results["processed"]
    assert status["duplicates"] == results["duplicate"]
    assert status["quarantined"] == results["quarantined"]
    with app.db.transaction() as session:
        # Every delivery kept its raw bytes, whatever became of it.
        stored = session.scalar(
            select(func.count()).select_from(Mail).where(Mail.direction == "in")
        )
        assert stored == results["processed"] + results["quarantined"]
        unfinished = session.scalar(
            select(func.count()).where(Mail.state == "received")
        )
        assert unfinished == 0
        reasons = session.scalars(
            select(Mail.error).where(Mail.state == "quarantined")
        ).all()
        machine = session.execute(
            select(Mail.role, Mail.flags, Mail.incident_id).where(Mail.id.in_(reports))
        ).all()
        # Nothing went out in the incidents they opened: no acknowledgement.
        answers = session.scalar(
            select(func.count())
            .select_from(Mail)
            .where(
                Mail.direction == "out",
                Mail.incident_id.in_([row.incident_id for row in machine]),
            )
        )
    assert len(machine) >= 40
    assert {(role, tuple(flags)) for role, flags, _ in machine} == {
        ("reporter", ("automated",))
    }
    assert answers == 0
    assert all(reasons)
    # Real mail, not a pile of failures: nearly everything is processed.
    assert results["quarantined"] <= len(paths) // 20, results
    app.close()
