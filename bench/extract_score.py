"""Precision and recall per field over a directory of labelled reports.

    python bench/extract_score.py [DIRECTORY]

DIRECTORY defaults to tests/reports (the labelled set the extractor was
written against); tests/reports_heldout, reports_heldout2, reports_heldout3
and reports_heldout5 are sets written after it (see their READMEs and
docs/extraction.md).

Prints a Markdown table (the one in docs/extraction.md) and the reports that
miss anything. The scoring is the test's own (tests/test_extract_reports.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_extract_reports import (  # noqa: E402 - after the path is set
    INDICATOR_KINDS,
    Score,
    all_reports,
    score,
)


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests" / "reports"
    total, problems = score(all_reports(directory))
    keys = sorted(set(total.tp) | set(total.fp) | set(total.fn))
    print("| field | kind | tp | fp | fn | precision | recall |")
    print("|---|---|---|---|---|---|---|")
    for field, kind in keys:
        tp, fp, fn = (
            total.tp[(field, kind)],
            total.fp[(field, kind)],
            total.fn[(field, kind)],
        )
        print(
            f"| {field} | {kind} | {tp} | {fp} | {fn} | "
            f"{Score.ratio(tp, fp):.3f} | {Score.ratio(tp, fn):.3f} |"
        )
    precision, recall = total.over(INDICATOR_KINDS)
    print(
        f"\nindicators (addresses, hosts, URLs, DNs, CVEs): "
        f"P={precision:.3f} R={recall:.3f}"
    )
    precision, recall = total.over(frozenset({"timestamp"}))
    print(f"timestamps: P={precision:.3f} R={recall:.3f}")
    print(f"reports: {len(problems)} of {len(all_reports(directory))} miss something")
    for name, wrong in problems.items():
        print(name, "; ".join(wrong))


if __name__ == "__main__":
    main()
