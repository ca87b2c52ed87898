"""The optional compiled build: MAILBOT_MYPYC=1 compiles the extraction with mypyc.

Extraction (mailbot/extract) reads every line of every mail and is the
largest part of a mail's cost; compiled to C by mypyc from its own type
annotations it reads 1.4 to 1.5 times as fast (docs/benchmarks.md). The rest
of mailbot spends its time in SQLAlchemy, the email package and the network,
which compiling would not change, so it stays Python.

The variable is read at build time only: `MAILBOT_MYPYC=1 pip install .`
needs a C compiler and Python's headers; without it (the default, and always
for an editable install, whose .py files must stay the code that runs) the
package is pure Python and behaves the same.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

FLAG = "MAILBOT_MYPYC"
# The extraction's value classes cross process boundaries (the read-ahead
# workers pickle them): compiled, a frozen dataclass cannot be unpickled.
INTERPRETED = {"values.py"}


def wanted() -> bool:
    value = os.environ.get(FLAG, "").strip()
    if value not in ("", "0", "1"):
        sys.exit(f"{FLAG}={value!r}: set it to 1 to compile the extraction, or 0")
    if value == "1" and "editable_wheel" in sys.argv:
        print(f"{FLAG}: an editable install stays pure Python", file=sys.stderr)
        return False
    return value == "1"


def compiled_modules() -> list:
    from mypyc.build import mypycify

    here = Path(__file__).parent
    sources = sorted(
        str(path.relative_to(here))
        for path in (here / "mailbot" / "extract").glob("*.py")
        if path.name not in INTERPRETED
    )
    return mypycify(sources, opt_level="3", target_dir="build/mypyc/c")


class BuildPy(build_py):
    """Ship config.example.toml in the package, for `mailbot example-config`:
    an installed mailbot (a wheel, the Docker image) has no source tree."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # mailbot reads it from the source tree then
        example = Path(__file__).parent / "config.example.toml"
        target = Path(self.build_lib, "mailbot")
        self.mkpath(str(target))
        self.copy_file(str(example), str(target / example.name))


COMPILED = wanted()
setup(
    cmdclass={"build_py": BuildPy},
    ext_modules=compiled_modules() if COMPILED else [],
    # Each build in its own folder: a pure build after a compiled one would
    # otherwise pack the compiled modules left in build/lib.
    options={"build": {"build_base": "build/mypyc" if COMPILED else "build/pure"}},
)
