"""mailbot: the daemon behind a CSIRT's abuse mailbox."""

from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

__version__ = "0.1.0"


def build() -> str:
    """How the extraction runs: compiled by mypyc (MAILBOT_MYPYC=1 at install
    time, see setup.py) or as Python.

    Told from the files, without importing the extraction: Python's import
    system takes a compiled module before a .py file of the same name.
    """
    extract = Path(__file__).parent / "extract"
    for suffix in EXTENSION_SUFFIXES:
        if (extract / f"part{suffix}").exists():
            return "extraction compiled with mypyc"
    return "pure Python"
