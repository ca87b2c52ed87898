"""X.509 distinguished names in slash form and in RFC 2253 (comma) form.

Both forms name the same DN; mailbot writes the slash form, most general
attribute first (/DC=org/DC=example/CN=Jane Doe 1234). RFC 2253 lists the
most specific attribute first, so a comma DN that starts with CN is reversed;
OpenSSL's "C = ES, O = Example, ..." is already in slash order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Final

_ATTRS: Final = {
    name.lower(): name
    for name in (
        "DC", "C", "ST", "L", "O", "OU", "CN", "UID", "SN", "GN", "E",
        "emailAddress", "serialNumber", "title", "street", "postalCode",
    )
}  # fmt: skip
_ATTR: Final = r"(?:" + "|".join(sorted(_ATTRS, key=len, reverse=True)) + r")"
# A value of a slash DN. A comma may stand inside a value that another
# component follows ("/O=University of California, Berkeley/CN=Jane Doe"):
# the text after the comma runs, without a blank before the slash, to the
# next "/ATTR=". Elsewhere a comma ends the DN: the last value ends at it
# ("/CN=Jane Doe 1234, who ..."). A component never opens after a blank:
# "/CN=X, /DC=...", "/CN=X and /DC=..." are two DNs.
_SVALUE: Final = r"[^/\n\"'()<>,;\t]+"
_MORE: Final = r"[ ]?[^\s/,](?:[^/\n\"'()<>;\t]*[^\s/])?/" + _ATTR + "="
_SLASH_VALUE: Final = f"{_SVALUE}(?:,(?={_MORE}){_SVALUE})*"
# One component: its value may hold slashes that open no component.
_PIECE: Final = f"/{_ATTR}={_SLASH_VALUE}(?:/(?!{_ATTR}=){_SVALUE})*"
# A slash DN: two or more /ATTR=value components. A value may itself hold a
# slash ("CN=host/ui01.example.org"), so a slash only opens a new component
# when an attribute name and "=" follow it.
# A run of more than 16 components is a dump of attributes, not a DN: the
# lookaheads refuse it whole instead of cutting it into many 16-part DNs, and
# a comma DN never starts right after a comma (it would be part of the run).
_SLASH: Final = re.compile(
    rf"(?<![\w/]){_PIECE}(?:(?<![ \t]){_PIECE}){{1,15}}(?!/{_ATTR}=)", re.IGNORECASE
)
# A value of a comma DN, with RFC 2253's escapes ("O=University of
# California\, Berkeley", "CN=Doe\, John"); an RDN of several values joins
# them with "+" ("CN=Jane Doe 1234+UID=jdoe").
# A value may also be quoted, as RFC 1779 and OpenLDAP write one with a comma
# in it ('CN="Doe, John",O=Example').
_CVALUE: Final = (
    r"(?:\"(?:[^\"\\\n]|\\[^\n])*\""
    r"|(?:[^,=\n\"'()<>;/+\\]|\\[^\n])+)"
)
_PAIR: Final = _ATTR + r"[ \t]*=[ \t]*" + _CVALUE
_RDN: Final = _PAIR + r"(?:[ \t]*\+[ \t]*" + _PAIR + r")*"
_COMMA: Final = re.compile(
    r"(?<![\w,])(?<!,[ \t])(?<!,[ \t]{2})" + _RDN + r"(?:,[ \t]*" + _RDN + r"){1,15}"
    r"(?![ \t]*,[ \t]*" + _ATTR + r"[ \t]*=)",
    re.IGNORECASE,
)
# One attribute of a comma DN: the separator before it ("," a new RDN, "+"
# the same RDN), its name and value.
_COMMA_PART: Final = re.compile(
    r"[ \t]*([,+]?)[ \t]*(" + _ATTR + r")[ \t]*=[ \t]*(" + _CVALUE + r")?",
    re.IGNORECASE,
)
# RFC 4514's escapes: "\\," (a character) and "\\C3\\B6" (the UTF-8 bytes of
# "ö", as OpenSSL writes what is not ASCII); a DN in a URL is
# percent-encoded ("CN=Jane%20Doe").
_ESCAPED: Final = re.compile(r"((?:\\[0-9A-Fa-f]{2})+)|\\([^\n])")
_PERCENT: Final = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# Compiled once: re.split with a pattern's text looks it up in re's cache in
# Python at every call.
_SLASH_SPLIT: Final = re.compile(r"/(?=" + _ATTR + r"=)", re.IGNORECASE)
# Where the last value ends when prose follows it. A slash DN's last value
# runs to the end of its line ("/CN=host/ui01.example.org" may hold a slash,
# "CN=John Smith 5678" spaces), and a DN in a sentence is followed by words:
# "/DC=org/DC=example/CN=John Smith 5678 logged in to ui01", "CN=..., DC=org
# and the host ui01". Grid CNs are names (capitalised words, name particles,
# a number), host and service names, robot names after a label ("Robot:"),
# mail addresses. The value ends before a function word or verb of prose
# (_PROSE, in the languages of the cue words), and before a lower-case word
# after a number, an address or a host name ("... 5678 authenticated"). A
# lower-case word after a capitalised name that is none of these ("John
# Smith authenticated") leaves the end unsure: the DN is not given as one
# (it stays unclassified), a wrong DN is not sent to a CA.
_PROSE_WORDS: Final = (
    # English
    "and or but nor also logged log logs login logins was were is are has"
    " have had been be being from to in on at with via which who whose that"
    " the an of for by as when while since after before used using it its"
    " this these his her their we our not"
    # German
    " und oder aber hat haben hatte wurde wurden ist sind war waren mit auf"
    " im am an aus bei für über seit nach vom zum zur ins sich wir ein eine"
    " die dem des"
    # French, Italian, Spanish, Portuguese
    " et ou mais a ont été est sont était avec sur pour par qui que depuis"
    " dans chez il elle nous ed ma ha hanno è sono era stato stata con su per"
    " che nel sul pero han fue está para por desde foi com em"
    # Dutch
    " en of maar heeft hebben werd zijn met op voor door bij naar uit dat"
    " het een"
)
_PROSE: Final = frozenset(_PROSE_WORDS.split())
# Lower-case words of names: "Jean-Pierre de la Fontaine", "Ludwig van Beethoven".
_PARTICLE_WORDS: Final = (
    "de la le du des del della di da dos das do van von der den ter ten zu af"
    " av al el bin ibn"
)
_PARTICLES: Final = frozenset(_PARTICLE_WORDS.split())
_TOKEN: Final = re.compile(r"\S+")
_GENERAL: Final = frozenset({"dc", "c"})
_SPECIFIC: Final = frozenset({"cn", "uid", "emailaddress", "e"})


def find_dns(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, DN in slash form) for every DN written in `line` whose
    end is sure."""
    for start, stop in dn_runs(line):
        item = dn_at(line, start, stop)
        if item is not None and not item[3]:
            yield item[:3]


def dn_runs(line: str) -> list[tuple[int, int]]:
    """(start, end) of the runs of `line` that may write a DN.

    Whether a run is a DN does not depend on which digits it holds, so the
    runs of a line whose digits differ are the same (see indicators.scan).
    """
    found, taken = [], -1
    for match in _SLASH.finditer(line):
        text = match.group(0)
        stop = match.start() + _last_value_end(text)[0]
        if in_url(line, match.start()):
            stop = min(stop, _url_value_end(line, match.start()))
        found.append((match.start(), stop))
        if _from_slash(line[match.start() : stop]):
            taken = stop
    for match in _COMMA.finditer(line):
        if match.start() >= taken:
            found.append(
                (match.start(), match.start() + _last_value_end(match.group(0))[0])
            )
    if "%" in line:
        # "?dn=%2FDC%3Dorg%2FDC%3Dexample%2FCN%3DJane%20Doe": the whole
        # value of a URL's query parameter, "/" and "=" encoded too.
        encoded = [
            (match.start(), _url_value_end(line, match.start()))
            for match in _ENCODED.finditer(line)
            if in_url(line, match.start())
        ]
        if encoded:
            found = sorted(found + encoded)
    return found


# A DN in a URL's query ("...?dn=/DC=org/.../CN=Jane%20Doe&vo=atlas") is
# percent-encoded: it ends where the parameter or the URL does.
_URL_VALUE_END: Final = re.compile(r"[\s&#\"'<>]|\Z")
# A DN encoded whole in a URL's query: "%2FDC%3D..." or "CN%3D...". The
# run does not depend on the digits (see dn_runs): dn_at decodes it.
_ENCODED: Final = re.compile(
    r"(?<==)(?:%[0-9A-Fa-f]{2})?" + _ATTR + r"%[0-9A-Fa-f]{2}", re.IGNORECASE
)
_ENCODED_START: Final = re.compile(r"(?:%2F)?" + _ATTR + r"%3D", re.IGNORECASE)
_TOKEN_START: Final = re.compile(r"\S*\Z")


def _url_value_end(line: str, start: int) -> int:
    found = _URL_VALUE_END.search(line, start)
    return found.start() if found is not None else len(line)


def in_url(line: str, start: int) -> bool:
    """Whether the DN at `start` is the value of a URL's query parameter."""
    if start == 0 or line[start - 1] != "=":
        return False
    token = _TOKEN_START.search(line, max(0, start - 2000), start)
    return token is not None and "://" in token.group(0)


def _last_value_end(text: str) -> tuple[int, bool]:
    """Where the DN written at the start of `text` ends (its last value cut
    before prose), and whether that end is unsure (see _PROSE)."""
    # The last value follows the last "=" (a value with "=" in it is cut
    # there too, the same way for every line).
    value = text.rfind("=") + 1
    if not value or " " not in text[value:].strip(" \t"):
        return len(text), False  # one word: nothing to cut
    end, unsure, named = len(text), False, False
    previous = ""
    for index, token in enumerate(_TOKEN.finditer(text, value)):
        word = token.group(0)
        # A word that ends a sentence or clause is still a word ("1234
        # yesterday.").
        bare = word.rstrip(",.;:!?")
        if index and bare in _PROSE:
            return token.start(), unsure
        if index and bare.isalpha() and bare.islower() and bare not in _PARTICLES:
            if previous.isdigit() or any(c in previous for c in ".@/"):
                return token.start(), unsure
            unsure = unsure or named
        if word.endswith(":"):
            named = False  # "Robot: cvmfs-publisher": a label, then the name
        elif word[:1].isupper():
            named = True
        previous = word.rstrip(",.;:")
    return end, unsure


def dn_at(line: str, start: int, stop: int) -> tuple[int, int, str, bool] | None:
    """(start, end, DN in slash form, whether its end is unsure) of the run
    `line[start:stop]`, if it is one."""
    text = line[start:stop]
    if text[:1] == "%" or _ENCODED_START.match(text):
        return _encoded_at(text, start)
    # A slash DN starts with its slash, a comma DN with an attribute name.
    value = _from_slash(text) if text[:1] == "/" else _from_comma(text)
    if not value:
        return None
    return start, start + len(text.rstrip(" .:")), value, _last_value_end(text)[1]


def _encoded_at(text: str, start: int) -> tuple[int, int, str, bool] | None:
    """The DN that the percent-encoded value `text` of a URL's query names,
    if the whole value is one (see dn_at): it ends where the value does."""
    text = text.rstrip(".,;:!?)")
    if not _ENCODED_START.match(text):
        return None
    # Form encoding writes a blank "+"; a "+" of the DN is "%2B" then.
    try:
        decoded = _PERCENT.sub(
            lambda m: _utf8(m.group(0).replace("%", "")), text.replace("+", " ")
        )
    except UnicodeDecodeError:
        return None
    whole = (_SLASH if decoded[:1] == "/" else _COMMA).match(decoded)
    if whole is None or whole.end() != len(decoded):
        return None
    value = _from_slash(decoded) if decoded[:1] == "/" else _from_comma(decoded)
    return (start, start + len(text), value, False) if value else None


def _from_slash(text: str) -> str:
    # Split only at "/ATTR=": other slashes belong to the value before them.
    pieces = _SLASH_SPLIT.split(text)
    rdns = []
    for piece in pieces:
        if not piece:
            continue
        attr, _, value = piece.partition("=")
        rdns.append([(_ATTRS[attr.lower()], _decoded(value.strip().rstrip(" .:")))])
    return _render(rdns)


def _decoded(value: str, quoted: bool = False) -> str:
    """`value` as its DN means it: hex escapes as UTF-8 bytes, other escapes
    as their character, a quoted value without its quotes, percent-encoding
    undone; "" (no DN) if the bytes are no UTF-8.

    "CN=J\\C3\\B6rg M\\C3\\BCller" is "CN=Jörg Müller", "CN=Doe\\2C Jr" is
    "CN=Doe, Jr" (a retester found "JC3B6rg" and "Doe2C Jr": another
    person's name, or none).
    """
    if quoted and len(value) > 1 and value[0] == value[-1] == '"':
        value = value[1:-1]
    try:
        if "\\" in value:
            value = _ESCAPED.sub(_unescaped, value)
        if "%" in value:
            value = _PERCENT.sub(lambda m: _utf8(m.group(0).replace("%", "")), value)
    except UnicodeDecodeError:
        return ""
    return value


def _unescaped(match: re.Match[str]) -> str:
    if match.group(1):
        return _utf8(match.group(1).replace("\\", ""))
    return match.group(2)


def _utf8(hex_digits: str) -> str:
    return bytes.fromhex(hex_digits).decode("utf-8")


def _from_comma(text: str) -> str:
    rdns: list[list[tuple[str, str]]] = []
    position = 0
    while position < len(text):
        match = _COMMA_PART.match(text, position)
        if match is None or match.end() == position:
            break
        separator, attr, value = match.groups()
        value = _decoded((value or "").strip().rstrip(" .:"), quoted=True)
        pair = (_ATTRS[attr.lower()], value)
        if separator == "+" and rdns:
            rdns[-1].append(pair)
        else:
            rdns.append([pair])
        position = match.end()
    if not rdns:
        return ""
    first, last = rdns[0][0][0].lower(), rdns[-1][0][0].lower()
    if first not in _GENERAL and (last in _GENERAL or first in _SPECIFIC):
        rdns.reverse()
    return _render(rdns)


def _render(rdns: list[list[tuple[str, str]]]) -> str:
    if len(rdns) < 2 or any(not value for rdn in rdns for _, value in rdn):
        return ""
    # A DN names a person or a host: without a CN (or UID) it is a path.
    if not any(attr.lower() in _SPECIFIC for rdn in rdns for attr, _ in rdn):
        return ""
    return "".join(
        "/" + "+".join(f"{attr}={value}" for attr, value in rdn) for rdn in rdns
    )


# The CNs that a proxy certificate adds to the DN of the certificate that
# signed it: "proxy" and "limited proxy" (legacy Globus proxies), a number
# (RFC 3820 proxies, as voms-proxy-init makes them).
_PROXY_CN: Final = re.compile(r"/CN=(?:proxy|limited proxy|\d+)\Z", re.IGNORECASE)


def end_entity(dn: str) -> str | None:
    """The end-entity DN of proxy DN `dn` (slash form), or None if `dn` is
    no proxy's: ".../CN=Jane Doe 1234/CN=1392817263" gives ".../CN=Jane Doe
    1234". A CA revokes the end-entity certificate, not the proxy."""
    owner = dn
    while True:
        match = _PROXY_CN.search(owner)
        if match is None:
            break
        owner = owner[: match.start()]
    if owner == dn or "/CN=" not in owner:
        return None
    # What is left must still be a DN: two or more components, a person or
    # host among them.
    return owner if _from_slash(owner) == owner else None


# A DN that a mail client hard-wrapped (no format=flowed): it breaks a line
# at a blank once the next word would pass its width (72 to 78 columns:
# Thunderbird, Outlook, Gmail, mutt), so a value ("O=Example Institute",
# "CN=David Jones 1234") goes on in the next line. Read alone, the first
# line gives no DN (cut in O=) or another person's (".../CN=David").
# Clients wrap at 66 to 78 columns (textwrap and Emacs 70, mutt 72, Outlook
# 76, Gmail 78): a part's own longest line up to 80 columns says its width,
# taken between 40 and 72 (wrap_width).
_WRAP_LINE: Final = 40  # a wrapped line is at least this long
_WRAP_WIDTH: Final = 72  # and the next word would not have fit in this width
_NARROWEST: Final = _WRAP_LINE
_OPENS_DN: Final = re.compile(r"/?" + _ATTR + r"[ \t]*=", re.IGNORECASE)
_LAST_ATTR: Final = re.compile(r"(?:\A|[/,+ \t])" + _ATTR + r"[ \t]*\Z", re.IGNORECASE)


def ends_whole(text: str) -> bool:
    """Whether the DN written at the start of `text` ends as whole DNs end: a
    slash DN's last word a number, a mail address or a host name ("CN=Jane
    Doe 1234"); a comma DN at the other end of the tree than it starts
    ("CN=..., DC=org", "DC=org, ..., CN=... 1234")."""
    text = text.strip().rstrip(" .:")
    if text[:1] != "/":
        parts = [m.group(2).lower() for m in _COMMA_PART.finditer(text)]
        if not parts:
            return False
        if parts[0] in _SPECIFIC:
            return parts[-1] in _GENERAL
        if parts[0] not in _GENERAL or parts[-1] not in _SPECIFIC:
            return False
    last = text.rsplit(None, 1)[-1]
    last = last[last.rfind("=") + 1 :]
    return last.isdigit() or any(c in last for c in ".@/")


def wrap_width(lines: Sequence[str]) -> int:
    """The width a mail client wrapped `lines` (a part's) at, as far as a
    DN's wrap needs it: its longest line of up to 80 characters, between
    40 and 72; 72 when none is."""
    longest = max((len(line) for line in lines if len(line) <= 80), default=0)
    return min(_WRAP_WIDTH, max(_NARROWEST, longest)) if longest else _WRAP_WIDTH


def wraps_dn(line: str, following: str, width: int = _WRAP_WIDTH) -> bool:
    """Whether a DN that reaches the end of `line` may go on in `following`:
    `line` is as long as a wrapped line, the first word of `following`
    would not have fit on it (in `width`, see wrap_width), `line` does not
    end a sentence, a DN's last value (or a comma after it) reaches its
    end, and `following` is not indented, opens no DN of its own, and
    opens no sentence after a DN the line gives by itself. A DN broken
    after its "/" goes on in the next line's "ATTR=", however short the
    line."""
    text = line.rstrip()
    broken = text[-1:] == "/" and _OPENS_DN.match(following) is not None
    if not broken and (len(text) < _WRAP_LINE or text[-1] in ".;:!?"):
        return False
    equals = text.rfind("=")
    if equals < 0 or not _LAST_ATTR.search(text, max(0, equals - 14), equals):
        return False
    # A client does not indent the rest of a line it wraps: an indented
    # line is the next item of a list.
    words = following.split(None, 1)
    if not words or following[:1] in " \t":
        return False
    if _NOT_A_VALUE.search(words[0]):
        return False
    if not broken and len(text) + 1 + len(words[0]) <= width:
        return False
    # A DN of its own: "CN=..." under "/DC=.../CN=Robot: cvmfs-publisher".
    # After a trailing "/" the next line's "CN=..." is the DN's next component.
    if text[-1] not in ",/" and _OPENS_DN.match(following):
        return False
    runs = dn_runs(text)
    if runs and not text[runs[-1][1] :].strip(" \t,/"):
        # A DN the line gives by itself ends before a sentence: "See
        # https://...", "Please revoke it" is no piece of a name.
        return not (opens_sentence(words[0]) and dn_at(text, *runs[-1]) is not None)
    # A DN without its CN yet is cut wherever the line ends, even after a
    # word of prose ("/OU=Institute of" then "Physics/CN=Jane Doe 1234").
    matches = list(_SLASH.finditer(text))
    last = matches[-1] if matches else None
    return (
        last is not None
        and not text[last.end() :].strip(" \t,/")
        and not _from_slash(last.group(0))
    )


# Words that open a sentence, a greeting or a closing, in the languages of
# the cue words, and that write no part of a name: a line after a DN that
# starts with one is no wrapped piece of its last value ("/CN=David" then
# "See https://..." gave the unsure "/CN=David See"). Words that are also
# names or surnames ("Will", "May", "Hope", "Best", "Block", "He", "Ola",
# "Das") are left out: a name may go on in them.
_OPENER_WORDS: Final = (
    # English
    "please pls see note thanks thank regards cheers kindly dear hello hi"
    " we you they it its our your their the this these those there here if"
    " when could would should does did is are was were has have had also"
    " however otherwise meanwhile moreover furthermore additionally"
    " unfortunately sorry attached find check contact revoke suspend"
    " investigate and but then"
    # German
    " bitte siehe danke vielen wir ich sie es hier anbei leider außerdem"
    " hallo sehr gruß grüße mfg könnten können"
    # French
    " merci voir voici veuillez nous je vous cordialement bonjour pourriez"
    " pouvez ci-joint cependant"
    # Italian
    " grazie vedi vedere cordiali saluti buongiorno abbiamo noi potete"
    " potreste allegato ciao"
    # Spanish, Portuguese
    " gracias saludos hola adjunto hemos nosotros podrían podrian atentamente"
    " estimado estimados obrigado obrigada atenciosamente segue veja olá nós"
    " podem prezado prezados anexo"
    # Dutch
    " zie bedankt groeten graag wij hierbij gelieve kunnen kunt vriendelijke"
)
_OPENERS: Final = frozenset(_OPENER_WORDS.split())


def opens_sentence(word: str) -> bool:
    """Whether `word`, the first of a line, opens a sentence (see _OPENERS)."""
    return word.rstrip(",.;:!?").lower() in _OPENERS


# A URL, a mail address, a host's path ("voms.example.org/voms/admin",
# "ftp.example.org:/pub", "www.example.org"), a path ("/var/log/secure") or
# a footnote's mark ("[1]") that opens the next line is no piece of a value.
_NOT_A_VALUE: Final = re.compile(
    r"://|@|\A[<(]?(?:www\.|/(?!" + _ATTR + r"=)[\w.~%-]+/"
    r"|[\w-]+(?:\.[\w-]+)+(?::\d{1,5})?:?/(?!" + _ATTR + r"=))|\A\[\d{1,3}\]\Z",
    re.IGNORECASE,
)
_URL_WORD: Final = re.compile(r"[^\s\"'<>(\[]*://")


def continuation(following: str) -> str:
    """The part of `following` that a DN wrapped onto it may go on in: up to
    its first URL ("Jones 1234 (see https://...)"), which is no value's."""
    found = _URL_WORD.search(following) if "://" in following else None
    return following[: found.start()] if found is not None else following
