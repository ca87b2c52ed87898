"""Extraction throughput of this tree against an earlier commit, in one run.

    python bench/extract_compare.py [--baseline REF] [--rounds N] [-- ARGS]
    python bench/extract_compare.py --baseline REF --findings [-- ARGS]

The baseline is this tree's `mailbot` package with the baseline commit's
`mailbot/extract` (`git archive`) in place of its own, in a temporary
directory: only the extraction stage differs, so `--corpus` reads the same
text parts (as this tree's parser gives them) in both. `bench/extract.py`
(of this tree, with ARGS) then runs alternately against the baseline and
against this tree, N times each, so that both see the same load of a shared
machine. Prints each run's JSON and the medians of
CPU MB/s with their ratio.

`--findings` checks instead that both find the same: every finding (mail,
field, value, kind, part, line) of the text that ARGS select, or, without
ARGS, of the real corpus, generated text (2 MB in 50 kB mails, 1 MB in one
part, 0.3 MB in 3 kB mails), the report sets, and digit variants of the
labelled reports and the corpus (`--vary-digits`). Prints the count of each
and the first differences; exits 1 if any differ.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What --findings reads when no ARGS say otherwise.
SAME_ON = (
    ["--corpus", str(ROOT.parent / "shared" / "corpus")],
    ["--megabytes", "2"],
    ["--megabytes", "1", "--part-size", "1000000"],
    ["--megabytes", "0.3", "--part-size", "3000"],
    ["--reports", str(ROOT / "tests" / "reports")],
    ["--reports", str(ROOT / "tests" / "reports_heldout")],
    ["--reports", str(ROOT / "tests" / "reports_heldout2")],
    ["--reports", str(ROOT / "tests" / "reports_heldout3")],
    ["--reports", str(ROOT / "tests" / "reports_heldout5")],
    # The same lines with other digits: what the plans of shapes must get right.
    ["--reports", str(ROOT / "tests" / "reports"), "--vary-digits", "5"],
    ["--corpus", str(ROOT.parent / "shared" / "corpus"), "--vary-digits", "1"],
)


def _export(ref: str, target: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "mailbot", target / "mailbot", ignore=ignore)
    shutil.rmtree(target / "mailbot" / "extract")
    archive = subprocess.run(
        ["git", "archive", ref, "mailbot/extract"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


def _output(pythonpath: Path, args: list[str]) -> str:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    return subprocess.run(
        [sys.executable, str(ROOT / "bench" / "extract.py"), *args],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def _run(pythonpath: Path, args: list[str]) -> dict:
    return json.loads(_output(pythonpath, args).splitlines()[-1])


def _same(baseline: Path, runs: list[list[str]]) -> bool:
    """Whether the baseline and this tree find the same on each of `runs`."""
    same = True
    for args in runs:
        old = _output(baseline, [*args, "--findings"]).splitlines()
        new = _output(ROOT, [*args, "--findings"]).splitlines()
        print(" ".join(args), f"baseline {len(old)}, this tree {len(new)} findings")
        if old != new:
            same = False
            for line in list(difflib.unified_diff(old, new, lineterm=""))[:40]:
                print("   ", line)
    print("same findings" if same else "FINDINGS DIFFER")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", default="HEAD", help="git ref to compare to")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--findings", action="store_true", help="compare findings, not speed"
    )
    parser.add_argument("args", nargs="*", help="arguments for bench/extract.py")
    options = parser.parse_args()
    results: dict[str, list[float]] = {"baseline": [], "tree": []}
    with tempfile.TemporaryDirectory() as directory:
        _export(options.baseline, Path(directory))
        if options.findings:
            runs = [options.args] if options.args else list(SAME_ON)
            sys.exit(0 if _same(Path(directory), runs) else 1)
        for _ in range(options.rounds):
            for name, path in (("baseline", Path(directory)), ("tree", ROOT)):
                result = _run(path, options.args)
                print(name, json.dumps(result), flush=True)
                results[name].append(result["cpu_mb_per_s"])
    baseline = statistics.median(results["baseline"])
    tree = statistics.median(results["tree"])
    print(
        f"median CPU MB/s: baseline {options.baseline} {baseline:.2f}, "
        f"this tree {tree:.2f}, ratio {tree / baseline:.2f}"
    )


if __name__ == "__main__":
    main()
