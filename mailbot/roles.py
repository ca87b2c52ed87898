"""Who wrote a mail: mailbot itself, a robot, a CSIRT member, a site, a reporter."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from email.utils import getaddresses

from mailbot import authn
from mailbot.classify import Classification
from mailbot.csirt import commands
from mailbot.extract.quotes import own_text
from mailbot.mail import ParsedMail
from mailbot.robot_address import is_plain_address, is_robot_address
from mailbot.settings import Settings
from mailbot.sites import Directory, IPAddress, Site

# An IPv4 address, defanged or not, or something IPv6-like: a site may be
# named by an address inside its networks.
_IP_CANDIDATE_RE = re.compile(
    r"(?<![\w.:])(\d{1,3}(?:\s?[\[(]?\.[\])]?\s?\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:]+)(?![\w:])",
    re.I,
)

ROLES = ("site", "csirt", "reporter", "mailbot", "auto_reply", "bounce")
# Authors whose mail never opens an incident nor gives field values: a stray
# bounce or auto-reply is kept, unattached, and answered by nobody.
ROBOT_ROLES = ("mailbot", "auto_reply", "bounce")
# The flag of a reporter's mail that a machine wrote: never answered.
AUTOMATED = "automated"
# Authors whose mail is read for the Analysis Guideline fields.
READ_ROLES = tuple(role for role in ROLES if role not in ROBOT_ROLES)
# The flag of a member's mail that speaks for the member's own site as well
# (the member is one of its security contacts and it takes part in the
# incident): it meets and gives that site's facts (record.py).
FOR_SITE = "for_site"
# The flag of a mail of a site's NGI security officer in an incident the
# site takes part in: the NGI answers for its site (record.py), as the
# escalation asks it to when it copies the NGI on the site's reminder.
FOR_NGI = "ngi"
# The flag of a site's or a member's mail that asks for no automatic answer
# (classify's "quiet" mail: sent through a ticket system): it counts as
# theirs, and is not acknowledged.
NO_AUTO_ANSWER = "no_auto_answer"


@dataclass(frozen=True)
class Author:
    role: str
    site: Site | None = None  # the site the author writes for, when known
    flags: tuple[str, ...] = ()
    # Every site of a security contact several sites share: `site` is the
    # one the mail names (else the first), until its thread says otherwise.
    shared: tuple[Site, ...] = ()
    # Why a claimed member address was not believed (for the CSIRT's notice).
    why: str = ""
    # The sites a member is a security contact of: in an incident one of
    # them takes part in, the member speaks for it as well (FOR_SITE).
    contact_of: tuple[Site, ...] = ()
    # The sites whose NGI gives the author as a security contact: in an
    # incident one of them takes part in, the NGI writes for it (FOR_NGI).
    ngi_of: tuple[Site, ...] = ()


def writes_for_site(role: str | None, flags: Collection[str] | None) -> bool:
    """Whether a mail of `role` with `flags` is its site's word: a site's
    own, or a member's speaking for the member's site (FOR_SITE)."""
    return role == "site" or (role == "csirt" and FOR_SITE in (flags or ()))


def identify(
    parsed: ParsedMail,
    classification: Classification,
    settings: Settings,
    directory: Directory,
    *,
    sent_by_us: bool,
) -> Author:
    """The author's role; robots are recognised before anyone's claims."""
    sender = parsed.from_.addr if parsed.from_ else ""
    if sent_by_us or sender in settings.own_addresses:
        return Author("mailbot")
    if classification.kind == "bounce":
        return Author("bounce")
    if classification.kind == "auto_reply":
        robot = Author("auto_reply", site=_site_of(sender, directory, parsed))
        if not classification.quiet or not directory.sites_by_contact(sender):
            return robot
        if _originator_is_ours(parsed, settings):
            # RT's receipt of our own mail (a reminder, a member's request),
            # in whatever words the site gave it: a robot's.
            return robot
        # A site's own mail, passed on by its ticket system, which marks
        # every mail "Precedence: bulk": the site's, unanswered.
        human = dataclasses.replace(classification, kind="human", reason=None)
        author = identify(parsed, human, settings, directory, sent_by_us=False)
        if author.role != "site":
            return robot  # not believed as the site's: as any such mail
        return dataclasses.replace(author, flags=(*author.flags, NO_AUTO_ANSWER))
    if classification.kind == "automated":
        # A machine's report (an abuse report, a monitoring alert) is a third
        # party's: it opens or joins an incident, is never answered, and
        # meets no clock, whoever's address it comes from.
        return Author(
            "reporter", site=_site_of(sender, directory, parsed), flags=(AUTOMATED,)
        )
    unproven: Author | None = None
    if sender in settings.csirt.members:
        member = _member(parsed, sender, settings, directory)
        if member.role == "csirt" or _authors(parsed) != 1:
            return member
        # Not believed as a member's, the mail is still what it would be
        # from anyone else at that address: a site contact's answer counts
        # for the site (sites are not authenticated), flagged all the same.
        unproven = member
    site = _site_of(sender, directory, parsed)
    if site is None:
        return unproven or _third_party(parsed, sender, settings, directory)
    shared = directory.sites_by_contact(sender)
    if authn.dmarc_fails(
        sender, parsed.header_all("Authentication-Results"), settings.csirt.authserv_ids
    ):
        # Anyone can write a site's address: when our MTA says the domain's
        # own DMARC policy rejects this mail, it speaks for no site (no
        # facts, no clock met, no tag counter moved): a third party's mail,
        # flagged.
        if unproven is not None:
            return unproven
        return Author(
            "reporter",
            flags=("dmarc_fail",),
            why=f"DMARC fails for {sender.rpartition('@')[2]} at our MTA",
        )
    if unproven is not None:
        return Author(
            "site", site=site, shared=shared if len(shared) > 1 else (),
            flags=unproven.flags, why=unproven.why,
        )  # fmt: skip
    return Author("site", site=site, shared=shared if len(shared) > 1 else ())


def _third_party(
    parsed: ParsedMail, sender: str, settings: Settings, directory: Directory
) -> Author:
    """A mail of no site's nor member's address: a reporter's, which may be
    an NGI security officer's (`ngi_of`) unless DMARC disowns it."""
    ngi_of = directory.sites_of_ngi_contact(sender) if sender else ()
    if ngi_of and not authn.dmarc_fails(
        sender, parsed.header_all("Authentication-Results"), settings.csirt.authserv_ids
    ):
        return Author("reporter", ngi_of=ngi_of)
    return Author("reporter")


def ngi_site(
    author: Author, taking_part: Collection[str], parsed: ParsedMail,
    directory: Directory,
) -> Site | None:  # fmt: skip
    """The site of `taking_part` an NGI security officer's mail answers
    for: among its NGI's sites there, the one the mail names, else the
    first of the sites file."""
    candidates = tuple(s for s in author.ngi_of if s.name in taking_part)
    if not candidates:
        return None
    return _named_among(candidates, directory, parsed) or candidates[0]


def _originator_is_ours(parsed: ParsedMail, settings: Settings) -> bool:
    """Whether Request Tracker's RT-Originator (whose words it passes on)
    is mailbot, the duty address or a member, or names nobody at all."""
    originators = getaddresses(parsed.header_all("RT-Originator"))
    named = [addr.lower() for _, addr in originators]
    ours = {*settings.own_addresses, *settings.csirt.members}
    if settings.csirt.duty_address:
        ours.add(settings.csirt.duty_address)
    return not any(named) or any(addr in ours for addr in named)


def _member(
    parsed: ParsedMail, sender: str, settings: Settings, directory: Directory
) -> Author:
    if _authors(parsed) != 1:
        # Which of several From addresses a DKIM signature vouches for is
        # anyone's guess: a member's mail has exactly one author.
        return Author(
            "reporter",
            flags=("possible_forgery",),
            why="the From header names more than one author",
        )
    verdict = authn.verify_sender(
        sender, parsed.header_all("Authentication-Results"), settings.csirt.authserv_ids
    )
    if verdict.verified:
        return Author("csirt", contact_of=directory.sites_by_contact(sender))
    # A member's address without our MTA's word for it may be forged: keep
    # the mail as an ordinary one, flagged, and apply none of its commands.
    return Author("reporter", flags=("possible_forgery",), why=verdict.how)


def member_of_subaddress(sender: str, settings: Settings) -> str | None:
    """The member whose sub-address `sender` is ("alice+csirt@" of
    "alice@"), when it is one and no member's address itself."""
    local, at, domain = sender.lower().rpartition("@")
    base, plus, _ = local.partition("+")
    if not (at and plus and base):
        return None
    members = {m.lower() for m in settings.csirt.members}
    owner = f"{base}@{domain}"
    return owner if owner in members and sender.lower() not in members else None


def _authors(parsed: ParsedMail) -> int:
    """How many addresses the From header fields name, all fields together."""
    values = parsed.header_all("From")
    return len([addr for _, addr in getaddresses(values) if addr])


def _site_of(sender: str, directory: Directory, parsed: ParsedMail) -> Site | None:
    if not sender:
        return None
    by_contact = directory.sites_by_contact(sender)
    if len(by_contact) > 1:
        # A contact several sites share writes for the one its mail names
        # (in the subject or its own text, by name or by a network's
        # address); naming none, for the first of the sites file.
        return _named_among(by_contact, directory, parsed) or by_contact[0]
    if by_contact:
        return by_contact[0]
    return directory.site_by_domain(sender.rpartition("@")[2])


def reply_address(parsed: ParsedMail, ours: Collection[str] = ()) -> str | None:
    """Where an answer goes: Reply-To, else From; never to a robot nor to `ours`.

    A robot anywhere among them means nobody reads the answer: none is sent.
    A Reply-To naming mailbot itself (or one mailbot cannot write to) is
    passed over for the next candidate, so that mailbot never mails itself.
    """
    candidates = [a.addr for a in parsed.reply_to]
    candidates += [parsed.from_.addr] if parsed.from_ else []
    for address in candidates:
        if is_robot_address(address):
            return None
        if is_plain_address(address) and address.lower() not in ours:
            return address
    return None


def participants(
    settings: Settings,
    sender: str,
    recipients: Collection[str],
    *,
    mailbox: bool = True,
) -> frozenset[str]:
    """Who wrote or received a mail; the CSIRT's people when its mailbox did
    (unless `mailbox` is false: see `mailbox_readers`)."""
    people = {sender.lower(), *(r.lower() for r in recipients)}
    if mailbox and people & settings.own_addresses:
        people |= set(settings.csirt.members) | settings.own_addresses
        if settings.csirt.duty_address:
            people.add(settings.csirt.duty_address.lower())
    return frozenset(people)


def mailbox_readers(
    settings: Settings, directory: Directory, addresses: Collection[str]
) -> bool:
    """Whether mail to `addresses` goes to the CSIRT's people alone, none of
    them a site's security contact: only then does what reached the mailbox
    count as known to them. A site's people (a member among them who is
    its contact included) know only the mails they wrote or received, so
    that mail to a site never cites or names what only the mailbox saw,
    such as another site's mails of a merged incident."""
    people = set(settings.csirt.members) | settings.own_addresses
    if settings.csirt.duty_address:
        people.add(settings.csirt.duty_address.lower())
    wanted = {a.lower() for a in addresses}
    return (
        bool(wanted)
        and wanted <= people
        and not any(directory.sites_by_contact(a) for a in wanted)
    )


def not_to_answer(settings: Settings) -> frozenset[str]:
    """mailbot's own addresses and the duty address: never an answer's recipient."""
    duty = settings.csirt.duty_address
    return frozenset(a.lower() for a in (*settings.own_addresses, duty) if a)


def site_of(
    author: Author, directory: Directory, parsed: ParsedMail, text: str
) -> Site | None:
    """The site a mail is about: its author's; for a member's, the first
    site it is addressed to (`sites_addressed`); else one the mail names.

    `text` is the mail's own text (quotes left out). The record stage and
    the read-ahead workers both ask this, so that they agree. A member's
    command lines name no site: `#site X` sets one only when applied.
    """
    if author.site is not None:
        return author.site
    if author.role == "csirt":
        # A member's mail addressed to a site's contacts is a request to
        # that site, whatever the subject of the thread names.
        addressed = sites_addressed(directory, parsed)
        if addressed:
            return addressed[0]
        text = commands.without_commands(text)
    return site_named(directory, parsed, text)


def addresses_site(site: Site, address: str) -> bool:
    """Whether mail to `address` reaches `site`: one of its security
    contacts, or an address in one of its domains."""
    address = address.lower()
    domain = address.rpartition("@")[2]
    return address in site.security_contacts or site.owns_domain(domain)


def sites_addressed(directory: Directory, parsed: ParsedMail) -> tuple[Site, ...]:
    """The sites a mail is addressed to (To, then Cc), in that order; its
    sender's own address reaches none, and neither does an address that
    several sites share (a university's CERT for its two grid sites): which
    of them is asked is the incident's to say (answers.on_csirt_mail asks
    those taking part)."""
    sender = parsed.from_.addr.lower() if parsed.from_ else ""
    found: list[Site] = []
    for recipient in (*parsed.to, *parsed.cc):
        address = recipient.addr.lower() if recipient.addr else ""
        if not address or address == sender:
            continue
        reached = [site for site in directory.sites if addresses_site(site, address)]
        if len(reached) == 1 and reached[0] not in found:
            found.append(reached[0])
    return tuple(found)


def _named_among(
    candidates: tuple[Site, ...], directory: Directory, parsed: ParsedMail
) -> Site | None:
    """The first of `candidates` the mail names, by name (subject, then its
    own text) or by an address in one of its networks."""
    text = own_text(parsed.body_text)
    for site in (
        *directory.sites_named_in(parsed.subject),
        *directory.sites_named_in(text),
    ):
        if site in candidates:
            return site
    for address in _addresses_in(text):
        owner = directory.site_by_address(address)
        if owner in candidates:
            return owner
    return None


def _addresses_in(text: str) -> Iterator[IPAddress]:
    for candidate in _IP_CANDIDATE_RE.findall(text[:200_000]):
        cleaned = re.sub(r"[\s\[\]()]", "", candidate)
        try:
            yield ipaddress.ip_address(cleaned)
        except ValueError:
            continue


def site_named(directory: Directory, parsed: ParsedMail, text: str) -> Site | None:
    """A site named in the subject or body, else one owning a mentioned address."""
    named = directory.sites_named_in(parsed.subject) or directory.sites_named_in(text)
    if named:
        return named[0]
    for address in _addresses_in(text):
        site = directory.site_by_address(address)
        if site is not None:
            return site
    return None
