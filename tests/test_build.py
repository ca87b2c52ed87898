"""The two builds: pure Python, and the extraction compiled by mypyc (setup.py).

CI runs the whole suite once on each (.ci/run); these tests check that a
build says which it is, and that the build variable is checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mailbot
import mailbot.extract.part
from mailbot import cli
from mailbot.mail import TextPart

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_says_which_build_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # What the import system actually loaded, against what --version tells.
    compiled = not mailbot.extract.part.__file__.endswith(".py")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    said = capsys.readouterr().out.strip()
    assert said.startswith(f"mailbot {mailbot.__version__} (")
    assert ("compiled with mypyc" in said) == compiled
    assert ("pure Python" in said) == (not compiled)


def test_values_cross_to_workers_in_either_build() -> None:
    # The read-ahead workers send findings and contexts back pickled; a
    # compiled frozen dataclass could not be unpickled (setup.py keeps
    # mailbot/extract/values.py out of the compiled modules for this).
    import datetime as dt
    import pickle

    from mailbot import extract

    context = extract.Context(
        timezone="Europe/Rome",
        reference_time=dt.datetime(2026, 12, 4, 8, tzinfo=dt.UTC),
        site_domains=("site-a.example.org",),
    )
    found = extract.extract(
        [TextPart("1", "text/plain", "body", "Attacker IP: 203.0.113.9\n")],
        context,
    )
    assert found
    assert pickle.loads(pickle.dumps(context)) == context
    assert pickle.loads(pickle.dumps(found)) == found


@pytest.mark.parametrize("value", ["yes", "true", "2"])
def test_a_build_variable_of_another_value_is_refused(value: str) -> None:
    result = subprocess.run(
        [sys.executable, "setup.py", "--name"],
        cwd=ROOT,
        env={**os.environ, "MAILBOT_MYPYC": value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"MAILBOT_MYPYC='{value}'" in result.stderr
    assert "set it to 1" in result.stderr


def test_a_wheel_ships_the_example_and_an_editable_install_builds(
    tmp_path: Path,
) -> None:
    # setup.py copies config.example.toml into the package for
    # `mailbot example-config`; the copy must not break the editable build
    # (it once did: the editable build has no package folder to copy into).
    import zipfile

    environ = {**os.environ, "MAILBOT_MYPYC": "0"}
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    built = subprocess.run(
        [*pip, "wheel", "-q", "--no-deps", "-w", str(tmp_path / "w"), str(ROOT)],
        env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "w").glob("mailbot-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("mailbot/config.example.toml").decode("utf-8")
    assert shipped == (ROOT / "config.example.toml").read_text(encoding="utf-8")
    # Into a venv of its own: pip installing into a --prefix first takes
    # the running environment's mailbot out (it did, in this very test).
    venv = tmp_path / "e"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    editable = subprocess.run(
        [*pip, "--python", str(venv / "bin" / "python"), "install", "-q",
         "--no-deps", "-e", str(ROOT)],
        env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert editable.returncode == 0, editable.stderr
    # The environment running the tests still imports its own mailbot.
    assert mailbot.__file__ is not None
    still = subprocess.run(
        [sys.executable, "-P", "-c", "import mailbot; print(mailbot.__file__)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert still.returncode == 0, still.stderr
