"""Reading commands: `#name arguments` lines at the top of a member's own text.

Pure: the text in, the commands (or what is wrong with them) out. The lines
before any other text count; blank lines, a salutation ("Hi all,") and a TLP
banner may come first or between them. A line naming a command after other
text is not applied: it is reported, so that the member hears of it, since
prose and pasted text show such lines too; so is one below the member's
sign-off. Quoted and forwarded lines never reach here (member.py).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from mailbot import tlp
from mailbot.clock import parse_instant
from mailbot.extract.quotes import is_greeting
from mailbot.mail import TextPart

_LINE_RE = re.compile(r"^#([a-z][a-z-]*)\b[ \t]*(.*)$", re.I)
_TAG_RE = re.compile(r"^[A-Z0-9]+-\d{8}-\d{2,4}$", re.I)
_LATE = "commands must come before other text: not applied"

# name -> (argument form, what it does); the reply to a bad command lists these.
SPEC = {
    "site": ("NAME", "set the incident's site"),
    "merge": ("TAG", "merge this incident into TAG"),
    "tlp": ("LABEL", "set the TLP label (RED, AMBER+STRICT, AMBER, GREEN, CLEAR)"),
    "discovered": ("TIME", "record when the incident was discovered"),
    "isolated": ("TIME", "record when the systems were isolated"),
    "resolved": ("[TIME]", "record the resolution (default: this mail's time)"),
    "false-positive": ("", "close as a false positive"),
    "close": ("", "close the incident"),
    "reopen": ("", "reopen the incident"),
    "no-request": ("", "this mail asks the site for nothing"),
    "extend": ("RULE TIME", "move a pending deadline"),
    "answered": (
        "[SITE] [TIME]",
        "the site answered the open request(s) another way (a call, a mail"
        " forwarded); default: this mail's time",
    ),
    "notify-vo": ("VO", "notify the VO's security contact of the incident's DNs"),
    "notify-ca": ("CA", "notify the CA's security contact of the incident's DNs"),
}


@dataclass(frozen=True)
class Command:
    name: str
    argument: str = ""
    when: dt.datetime | None = None
    rule: str | None = None
    line: str = ""


@dataclass(frozen=True)
class BadCommand:
    line: str
    problem: str


def usage() -> list[str]:
    return [
        f"#{name} {form}".rstrip() + f"  - {what}"
        for name, (form, what) in SPEC.items()
    ]


def read_commands(text: str) -> tuple[list[Command], list[BadCommand]]:
    """The command block at the top of `text`, parsed and checked; a command
    line after other text is bad."""
    good: list[Command] = []
    bad: list[BadCommand] = []
    block, late = _split(text)
    for line in block:
        parsed = parse_line(line)
        (good if isinstance(parsed, Command) else bad).append(parsed)  # type: ignore[arg-type]
    bad.extend(BadCommand(line, _LATE) for line in late)
    return good, bad


def below_signature(lines: Iterable[str]) -> list[BadCommand]:
    """Command lines written below the member's sign-off: not applied, and
    reported like any other line after the member's text."""
    return [BadCommand(command_form(line), _LATE) for line in lines if is_command(line)]


def is_command(line: str) -> bool:
    """Whether `line` names a command, well-formed or not ("#close", "#tlp X")."""
    match = _LINE_RE.match(command_form(line))
    return match is not None and match.group(1).lower() in SPEC


def without_commands(text: str) -> str:
    """`text` with its command lines blanked, the line numbers kept."""
    if "#" not in text and "\uff03" not in text and "\ufe5f" not in text:
        return text
    lines = text.split("\n")
    return "\n".join("" if is_command(line) else line for line in lines)


def readable_parts(parts: Sequence[TextPart], role: str | None) -> Sequence[TextPart]:
    """The parts extraction reads: in a member's mail without the command
    lines, which tell mailbot what to record and are no evidence."""
    if role != "csirt":
        return parts
    return tuple(
        replace(part, text=without_commands(part.text))
        if part.kind in ("body", "html")
        else part
        for part in parts
    )


# One mail's commands together. A status change and a value are set once a
# mail: a second, different one contradicts the first and is refused (the
# member hears which one stood), not applied over it in silence. An ended
# incident takes no more facts or clocks from the same mail.
_STATUS = ("close", "false-positive", "reopen")
_ENDING = ("close", "false-positive")
_AFTER_END = ("tlp", "no-request", "notify-vo", "notify-ca")
_ONCE = ("site", "merge", "tlp", "discovered", "isolated", "resolved")


def repeats(command: Command, earlier: Sequence[Command]) -> bool:
    """Whether `command` was given already in this mail ("#close", "#Close")."""
    return any(_key(command) == _key(e) for e in earlier)


def _key(command: Command) -> tuple[object, ...]:
    return (command.name, command.argument.casefold(), command.when, command.rule)


def contradiction(command: Command, earlier: Sequence[Command]) -> str | None:
    """Why `command` cannot follow the commands applied before it in this
    mail, or None."""
    for before in earlier:
        if command.name in _STATUS and before.name in _STATUS:
            return (
                f"contradicts {before.line} above: one status change a mail;"
                f" send {command.line} in a new mail if it is meant"
            )
        if command.name == before.name and (
            command.name in _ONCE
            or (command.rule is not None and command.rule == before.rule)
        ):
            return (
                f"contradicts {before.line} above: #{command.name} once a mail;"
                " send the one meant in a new mail"
            )
        if before.name in _ENDING and command.name not in _AFTER_END:
            return (
                f"comes after {before.line}, which ended the incident: write it"
                f" before {before.line}"
            )
    return None


# "*#close*", "**#close**", "_#close_": a client's plain text of a line
# set in bold or italics.
# "`#close`" likewise (code); "*#tlp* RED" has only the name marked.
_EMPHASIS = re.compile(r"([*_`]{1,2})(#.*?)\s*\1")
_NAME_MARKED = re.compile(r"([*_`]{1,2})(#[A-Za-z-]+)\1(\s.*)?")
# A list item's bullet before a command: "- #close", "• #close".
_BULLET = re.compile(r"[-\u2022\u2023\u2219]\s+(?=\S)")


def command_form(line: str) -> str:
    """`line` as a command is read: stripped; in compatibility form when it
    opens with a character other than "#" ("＃close", full width, is #close;
    so is "#ｃｌｏｓｅ"), without invisible format characters (a zero-width
    space, a byte order mark), a list bullet, or marks of bold, italics or
    code around it."""
    line = line.strip()
    if not line or (line.isascii() and line[0] not in "*_`-"):
        return line
    line = unicodedata.normalize("NFKC", line)
    if not line.isascii():
        line = "".join(c for c in line if unicodedata.category(c) != "Cf").strip()
    if bullet := _BULLET.match(line):
        line = line[bullet.end() :]
    if emphasis := _EMPHASIS.fullmatch(line):
        return emphasis.group(2).strip()
    if marked := _NAME_MARKED.fullmatch(line):
        return marked.group(2) + (marked.group(3) or "")
    return line


def _split(text: str) -> tuple[list[str], list[str]]:
    """The lines of the top block, and the command lines after other text."""
    block: list[str] = []
    late: list[str] = []
    prose = False
    for raw in text.splitlines():
        line = command_form(raw)
        if prose:
            if line.startswith("#") and is_command(line):
                late.append(line)
        elif line.startswith("#"):
            block.append(line)
        elif line and not _preamble(line):
            prose = True
    return block, late


def _preamble(line: str) -> bool:
    """A line that may stand before or between the commands."""
    return is_greeting(line) or bool(tlp.find_labels(line))


def parse_line(line: str) -> Command | BadCommand:
    match = _LINE_RE.match(line)
    if match is None:
        return BadCommand(line, "is not of the form #name arguments")
    name, argument = match.group(1).lower(), match.group(2).strip()
    if name not in SPEC:
        return BadCommand(line, f"#{name} is not a command")
    checker = _CHECKS.get(name, _no_argument)
    return checker(name, argument, line)


def _no_argument(name: str, argument: str, line: str) -> Command | BadCommand:
    if argument:
        return BadCommand(line, f"#{name} takes no argument")
    return Command(name, line=line)


def _word(name: str, argument: str, line: str) -> Command | BadCommand:
    if not argument:
        return BadCommand(line, f"#{name} needs {SPEC[name][0]}")
    return Command(name, argument, line=line)


def _tag(name: str, argument: str, line: str) -> Command | BadCommand:
    if not _TAG_RE.match(argument.strip("[]")):
        return BadCommand(line, f"#{name} needs a full tag like EGI-20261204-01")
    return Command(name, argument.strip("[]").upper(), line=line)


def _label(name: str, argument: str, line: str) -> Command | BadCommand:
    label = tlp.normalise(argument)
    if label is None:
        return BadCommand(
            line, f"{argument!r} is no TLP label ({', '.join(tlp.LABELS)})"
        )
    return Command(name, label, line=line)


def _time(
    name: str, argument: str, line: str, optional: bool = False
) -> Command | BadCommand:
    if not argument and optional:
        return Command(name, line=line)
    try:
        return Command(name, argument, when=parse_instant(argument), line=line)
    except ValueError as exc:
        return BadCommand(line, f"#{name} needs an ISO 8601 time with a zone: {exc}")


def _resolved(name: str, argument: str, line: str) -> Command | BadCommand:
    return _time(name, argument, line, optional=True)


def _extend(name: str, argument: str, line: str) -> Command | BadCommand:
    rule, _, when = argument.partition(" ")
    if not rule or not when.strip():
        return BadCommand(
            line, "#extend needs RULE TIME, e.g. #extend analysis 2026-12-05T12:00Z"
        )
    parsed = _time(name, when.strip(), line)
    if isinstance(parsed, BadCommand):
        return parsed
    return Command(name, argument, when=parsed.when, rule=rule.lower(), line=line)


def _answered(name: str, argument: str, line: str) -> Command | BadCommand:
    """`#answered`, `#answered SITE`, `#answered TIME` or `#answered SITE TIME`."""
    if not argument:
        return Command(name, line=line)
    try:
        return Command(name, when=parse_instant(argument), line=line)
    except ValueError:
        pass
    site, _, when = argument.partition(" ")
    if not when.strip():
        return Command(name, site, line=line)
    parsed = _time(name, when.strip(), line)
    if isinstance(parsed, BadCommand):
        return BadCommand(
            line, f"{parsed.problem} (#answered [SITE] [TIME], e.g. #answered"
            " SITE-A 2026-12-04T11:00Z)",
        )  # fmt: skip
    return Command(name, site, when=parsed.when, line=line)


_CHECKS = {
    "site": _word,
    "merge": _tag,
    "tlp": _label,
    "discovered": _time,
    "isolated": _time,
    "resolved": _resolved,
    "extend": _extend,
    "answered": _answered,
    "notify-vo": _word,
    "notify-ca": _word,
}
