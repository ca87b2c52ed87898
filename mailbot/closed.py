"""A new report in the thread of an incident that ended: told, not reopened.

A closed incident (or a false positive) owes nothing more, and a mail in
its thread starts no clock. A site may still write there about a new
compromise, under the old tag ("another host runs the miner"). DOMAIN.md
and INTERFACE.md leave reopening to a member (#reopen), so mailbot tells
the CSIRT duty address, flags the mail and lists the incident in `status`
until a member writes in the thread. Thanks, acknowledgements, a closure
report sent late and machines' mail tell nobody; so do a known host
named in a new role and remediation told ("back in production", "the
account is disabled"), and the attacker kept out ("the attacker
203.0.113.99 is now blocked"): only new hosts, addresses and evidence of
an attack make values new to the incident.
"""

from __future__ import annotations

import ipaddress
import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailbot import extract, roles
from mailbot.app import App
from mailbot.csirt import replies, trail
from mailbot.db.models import Audit, FieldValue, Incident, Mail
from mailbot.mail import ParsedMail
from mailbot.words import normalise

log = logging.getLogger(__name__)

# The mail's flag (in `show`) and the trail's action.
FLAG = "report_after_close"
ENDED = ("closed", "false_positive")
# Whose mail may report anew: the site's and a third party's.
_REPORTERS = ("site", "reporter")
# Fields whose values new to the incident show what a new report shows.
_HOST_FIELDS = (
    "affected_hosts", "attacker_ips", "suspected_ips", "entry_points", "x509_dns",
)  # fmt: skip
_TEXT_FIELDS = ("evidence", "unclassified", "losses")
_NEW_FIELDS = (*_HOST_FIELDS, *_TEXT_FIELDS)

# Written for this module, on text case folded without accents
# (words.normalise): words of a compromise, in the languages that
# absence.py knows.
_COMPROMISE = re.compile(
    r"\bcompromis|\bintrusion|\bintruder|\bbreach|\bbreak-?in\b|\bbackdoor"
    r"|\brootkit|\bmalware|\b(?:crypto)?miner\b|\bmining\b|\bransomware|\btrojan"
    r"|\bbotnet|\bhacked\b|\bunauthori[sz]ed (?:access|login)"
    r"|\bsuspicious (?:activity|logins?|process|traffic|files?)|\battack"
    r"|\bexploit(?:ed)?\b|\binfect|\bbrute.?force"
    r"|\bkompromittier|\bangriff|\beinbruch|\bschadsoftware|\beindringling"
    r"|\binfiziert|\battaque|\bmalveillant|\bpiratage|\bgecompromitteerd"
    r"|\baanval|\binbraak|\bbesmet|\bcomprometid|\bataque|\bcompromess"
    r"|\battacco|\bintrusione|\binvasao|\bintrusao"
    r"|\bskompromitowan|\bw[łl]aman|\batak(?:u|i|iem)?\b|\bzainfekowan|\bkoparka"
    r"|\bkompromitovan|\bnapaden|\butok|\bprunik|\binfikovan"
)
# What says that the compromise is a new one, or back: near the words of
# the compromise, in the same sentence.
_ANEW = re.compile(
    r"\banother\b|\bnew (?:compromise|intrusion|incident|attack|infection|hosts?"
    r"|machines?|nodes?|case)\b|\bonce (?:more|again)\b"
    r"|\bre-?(?:infected|compromised|appeared)|\brecurr"
    r"|\b(?:compromised|infected|hacked|running|active|seen|there|back) again\b"
    r"|\bagain (?:compromised|infected|hacked)|\bstill (?:running|active|there)"
    r"|\berneut\b|\bwieder (?:da|aktiv|kompromittiert|infiziert|mit)"
    r"|\bweitere[rns]?\b|\bneue[rns]? (?:angriff|einbruch|kompromittierung|vorfall)"
    r"|\b[ad]e nouveau\b|\bnouvelle (?:intrusion|attaque|compromission|infection)"
    r"|\bnouvel (?:incident|hote)|\bune autre machine|\bencore (?:compromis|infect)"
    r"|\bopnieuw\b|\bweer (?:gecompromitteerd|actief|besmet)|\bnieuwe (?:inbraak"
    r"|aanval)|\bde nuevo\b|\botra vez\b|\bdi nuovo\b"
    r"|\bnovamente\b|\bde novo\b|\boutra vez\b|\bnov[ao] (?:intrusao|invasao|ataque)"
    r"|\bponownie\b|\bznowu\b|\bkolejn[yaeo]\b|\bnow[yae] (?:atak|w[łl]amanie)"
    r"|\bznovu\b|\bopet\b|\bdalsi\b|\bnov[yae] (?:utok|napadeni|prunik)"
)
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
# Written for this module, on normalised text: what a site did to end a
# compromise ("back in production", "reinstalled", "the account is
# disabled"). A closure told late names the compromise it ended; such a
# text is no new evidence of one.
_RECOVERY = re.compile(
    r"\bback (?:in|into|to) (?:production|service|operation)|\bin production again"
    r"|\bre-?install|\bre-?imag|\brebuil|\bwiped\b|\bdisabled\b|\bdeactivated"
    r"|\bclean(?:ed|ing)?\b|\bpatch(?:ed|ing)?\b|\bblock(?:ed|ing)?\b|\bisolated"
    r"|\bremoved\b|\brestored\b|\blocked\b|\bsuspended\b|\brevoked\b"
    r"|\breset\b|\bfixed\b|\bresolved\b|\bmitigated"
    r"|\bneu installiert|\bgesperrt|\bdeaktiviert|\bbereinigt|\bgepatcht"
    r"|\breinstall|\bdesactive|\bnettoye|\bbloque|\bcorrige"
    r"|\bgeblokkeerd|\bgeinstalleerd|\bopgeschoond|\breinstalad|\bbloquead"
    r"|\bdesactivad|\bbloccat|\bdisattivat|\breinstallat|\bdesativad"
    r"|\bprzeinstalowan|\bzablokowan|\bwy[łl]aczon|\bza[łl]atan"
    r"|\bpreinstalovan|\bzablokovan|\bdeaktivovan|\bvypnut|\bopraven"
)
# Written for this module, on normalised text: the attacker kept out
# (blocked, banned, firewalled, put on a blocklist), in the languages above.
# Containment, not a new compromise: "the attacker 203.0.113.99 is blocked".
_CONTAINED = re.compile(
    r"\bblock(?:ed|ing|s)?\b|\bblock-?list|\bblacklist|\bdeny-?list"
    r"|\bban(?:ned|ning|s)?\b|\bfail2ban|\bfirewall|\bnull-?rout"
    r"|\bgesperrt|\bgeblockt|\bblockiert|\bgebannt|\bsperren"
    r"|\bbloque|\bbanni|\bpare-?feu|\bliste noire"
    r"|\bgeblokkeerd|\bgeblokt|\bgebann?e?d|\bzwarte lijst"
    r"|\bbloquead|\bbloqueamos|\bbaneado|\bcortafuegos|\blista negra"
    r"|\bbloccat|\bbannat|\blista nera"
    r"|\bzablokowan|\bzbanowan|\bczarn[aej] list|\bzablokovan|\bcern[aey] listin"
)
# The words of _COMPROMISE that name the attacker or the attack, not a
# host taken: a sentence that has only these and tells containment
# reports no compromise.
_ATTACKER = re.compile(
    r"\battack\w*|\bbrute.?force\w*|\bintruders?\b|\bangriff\w*|\beindringling\w*"
    r"|\battaque\w*|\baanval\w*|\bataque\w*|\battacc\w*|\batak\w*|\butok\w*"
)
# A host's name as sites write it: a short name with a digit ("wn12") or
# a dotted name ending in letters ("login.site-a.example.com").
_HOST_NAME = re.compile(
    r"[a-z][a-z0-9-]*[0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*"
    r"|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}"
)
_TOKEN = re.compile(r"[^\s,;()<>\[\]\"'/]+")
_END = ".!?;:, "


def check(
    app: App,
    session: Session,
    incident: Incident,
    mail: Mail,
    parsed: ParsedMail,
    author: roles.Author,
    words: str,
) -> None:
    """Tell the duty address when `mail`, filed in an incident that ended,
    reports a compromise anew; `words` are its author's own lines."""
    if incident.status not in ENDED or author.role not in _REPORTERS:
        return
    if extract.is_closure_report(parsed.subject, parsed.text_parts):
        return
    why = _why_new(session, incident, mail, normalise(words))
    if why is None:
        return
    mail.flags = [*(mail.flags or []), FLAG]
    log.warning("%s %s reports anew in the %s incident: %s",
                incident.tag, mail.ident, incident.status, why)  # fmt: skip
    trail.note(
        session, incident.id, actor=mail.from_addr, action=FLAG,
        detail=f"a new report in the {incident.status} incident: {why}; CSIRT"
        " duty address told", mail_id=mail.id, at=app.clock.now(),
    )  # fmt: skip
    replies.closed_notice(app, session, incident, parsed, mail, why=why)


def _why_new(session: Session, incident: Incident, mail: Mail, text: str) -> str | None:
    """Why the text reports a compromise anew, or None: it speaks of a
    compromise, and says that it is a new one or gives values new to the
    incident (hosts, addresses, evidence)."""
    every = _SENTENCE_END.split(text)
    contained = [s for s in every if _CONTAINED.search(s)]
    sentences = [
        s
        for s in every
        if _COMPROMISE.search(_ATTACKER.sub(" ", s) if s in contained else s)
    ]
    if not sentences:
        return None
    anew = next((s for s in sentences if _ANEW.search(s)), None)
    if anew is not None:
        return f'it says "{anew[:120].rstrip(_END)}"'
    # The hosts and addresses told kept out are no new compromise's.
    kept_out = {host for s in contained for host in _hosts(s)}
    new = _new_values(session, incident, mail, kept_out)
    if new:
        # The notice ends the sentence: a value's own period is left out.
        return "it reports a compromise and values new to the incident: " + (
            ", ".join(value.rstrip(_END) for value in new[:5])
        )
    return None


def _new_values(
    session: Session, incident: Incident, mail: Mail, kept_out: set[str]
) -> list[str]:
    """The values `mail` gave the incident that point to a new compromise:
    hosts and addresses no earlier mail named nor the mail tells blocked
    (`kept_out`), and evidence that is not a remediation told ("back in
    production", "the account is disabled"). A known host in a new role
    ("the login node 192.0.2.12") is no news."""
    rows = session.execute(
        select(FieldValue.mail_id, FieldValue.field, FieldValue.value).where(
            FieldValue.incident_id == incident.id
        )
    ).all()
    earlier = [value for mail_id, _, value in rows if mail_id != mail.id]
    known_hosts = {host for value in earlier for host in _hosts(value)}
    known_hosts |= {
        host.split(".")[0] for host in known_hosts if _HOST_NAME.fullmatch(host)
    }
    new: list[str] = []
    for mail_id, field, value in rows:
        if mail_id != mail.id or field not in _NEW_FIELDS or value in earlier:
            continue
        hosts = _hosts(value)
        new_host = bool(hosts) and not hosts <= known_hosts | kept_out
        # Evidence without a new host counts unless it tells a remediation.
        evidence = field in _TEXT_FIELDS and not _RECOVERY.search(normalise(value))
        if new_host or evidence:
            new.append(value)
    return list(dict.fromkeys(new))


def _hosts(value: str) -> set[str]:
    """The addresses and host names written in `value`, case folded."""
    found: set[str] = set()
    for token in _TOKEN.findall(value.casefold()):
        token = token.strip(_END)
        try:
            found.add(str(ipaddress.ip_address(token)))
            continue
        except ValueError:
            pass
        if _HOST_NAME.fullmatch(token):
            found.add(token)
    return found


def waiting(session: Session) -> list[str]:
    """The tags of the incidents that ended and hold a new report no member
    wrote after in the thread (nor reopened the incident)."""
    rows = session.execute(
        select(Incident.id, Incident.tag, Audit.mail_id)
        .join(Audit, Audit.incident_id == Incident.id)
        .where(
            Audit.action == FLAG,
            Incident.status.in_(ENDED),
            Incident.merged_into_id.is_(None),
        )
        .order_by(Incident.opened_at, Incident.id)
    ).all()
    tags: list[str] = []
    for incident_id, tag, mail_id in rows:
        if tag in tags or mail_id is None:
            continue
        answered = session.scalars(
            select(Mail.id).where(
                Mail.incident_id == incident_id,
                Mail.role == "csirt",
                Mail.id > mail_id,
            )
        ).first()
        if answered is None:
            tags.append(tag)
    return tags
