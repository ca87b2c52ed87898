"""Machine-written mail: a robot's report opens an incident, and nothing answers it.

A report that a machine sends without answering any mail (an abuse report
with `Auto-Submitted: auto-generated`, X-ARF, ARF, a noreply address) is a
third party's report: it opens or joins an incident as the reporter's mail,
flagged `automated`, and is never answered. A ticket system's automatic
acknowledgement is an auto-reply: kept in the thread, answered by nobody,
meeting no clock. Mail goes in through a private Dovecot and out through a
real SMTP server on loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from mailbot_env import CASES_SITES, make_app
from sqlalchemy import func, select
from test_csirt_env import (
    ABUSE,
    SITE_A,
    World,
    at,
    member_mail,
    raw_mail,
    site_report,
)

from mailbot import brake, service, views
from mailbot.classify import classify
from mailbot.db.models import Incident, Mail, Outbox
from mailbot.deadlines.sweep import sweep
from mailbot.parse import parse

# The `w` fixture: a mailbot on a private Dovecot and SMTP sink.
pytest_plugins = ("test_csirt_env",)

NOW = dt.datetime(2026, 12, 4, 12, 0, tzinfo=dt.UTC)
MDN = "disposition-notification"
# The tester's site owning the networks and domain the corpus reports name.
SITE_X = """
[[site]]
name = "SITE-X"
ngi = "NGI_A"
timezone = "Europe/Amsterdam"
country = "NL"
security_contacts = ["sec@site-x.example.org"]
domains = ["site-x.example.org", "domain.tld"]
networks = ["10.0.0.0/8"]
"""
# Robot reports of ../shared/corpus and the site each names (None: none of ours).
CORPUS_REPORTS = {
    "abuseio/blocklistde/Blocklistde_Example_1.eml": "SITE-X",
    "abuseio/netcraft/Netcraft_Example_1.eml": "SITE-X",
    "abuseio/google/Safe_Browsing_Report_1.eml": "SITE-X",
    "abuseio/projecthoneypot/Projecthoneypot_Example_free_1.eml": "SITE-X",
    "abuseio/cyscon/Cyscon_Example_1.eml": None,
    "abuseio/spamexperts/1.eml": None,
    "abuseio/ip-echelon/ip-echelon_sample1.eml": None,
    "abuseio/cleanmx/Cleanmx_Example_1.eml": None,
    # From autoreports@, without an automation header: a robot by its name.
    "abuseio/shadowserver/2015-01-01-scan_ipmi-sample-asn.csv.zip.eml": None,
}

# Ticket systems' acknowledgements, written for this test in the manner of
# RT, OTRS/Znuny, Jira Service Management, ServiceNow, Zammad, GLPI,
# osTicket and sites' own helpdesks in several languages.
TICKET_ACKS = [
    "Hello,\n\nThis mail was generated automatically upon the creation of a trouble"
    ' ticket about:\n\t"Compromised host"\nThe ticket has been assigned the'
    " number [SITE-A #4711]. No reply is needed.\n",
    "This is an automatic response. Your message has been received and ticket"
    " number 2026113010000123 was created for it.\n",
    "Your request SEC-1234 has been received and logged.\nThis notification was"
    " sent automatically; please do not reply.\n",
    "Incident INC0012345 has been opened on your behalf.\nThis is an automated"
    " notification from the IT service desk.\n",
    "Dear sender,\nyour request (#31001) has been received and will be reviewed"
    " by our support staff.\nThis message was automatically generated.\n",
    "A new ticket has been created (ID 5123).\n-- Automatic notification of the"
    " helpdesk application\n",
    "A support request has been created and assigned ticket #482913.\nThis is an"
    " automatic confirmation, do not reply.\n",
    "Dies ist eine automatisch erzeugte Nachricht. Ihre Anfrage wurde unter der"
    " Ticketnummer 12345 erfasst.\n",
    "Ceci est un message automatique. Votre demande a été enregistrée sous le"
    " numéro de ticket 98765.\n",
    "Dit is een automatisch gegenereerd bericht. Uw melding is geregistreerd"
    " onder nummer 2026-4711.\n",
    "Este es un mensaje automático. Su solicitud ha sido registrada con el"
    " número de caso 5521.\n",
    "Questo è un messaggio automatico. La sua richiesta è stata registrata con"
    " il numero 7781.\n",
    "Esta é uma mensagem automática. O seu pedido de suporte foi registado com"
    " o número 4410.\n",
    "Wiadomość wygenerowana automatycznie. Twoje zgłoszenie zostało"
    " zarejestrowane pod numerem 3344.\n",
    "Toto je automaticky generovaná zpráva. Váš požadavek byl zaregistrován pod"
    " číslem 5566.\n",
]
# Service desks that say the mail was received and filed, with neither an
# automation header nor "automatic" in their words (ServiceNow, Jira Service
# Management, OTRS/Znuny, Zammad and sites' own desks, in several languages).
DESK_RECEIPTS = [
    "Dear sender,\n\nyour e-mail has been received by the Site Alpha Service Desk"
    " and registered as incident INC0012345. We will process it within our"
    " service hours.\n\nKind regards,\nService Desk\n",
    "Your request has been received and logged as SD-1234. You can follow it"
    " on the customer portal.\n",
    "Your email has been received and a ticket was created:"
    " Ticket#2026120710000017. We will contact you as soon as possible.\n",
    "Your request (#31042) has been received and will be reviewed by our"
    " support team.\n",
    "Ihre E-Mail ist bei uns eingegangen und wurde unter der Vorgangsnummer"
    " 4711 erfasst. Sie wird so schnell wie möglich bearbeitet.\n",
    "Votre message a bien été reçu et enregistré sous le numéro de ticket"
    " 98765. Il sera traité dans les meilleurs délais.\n",
    "Uw e-mail is ontvangen en geregistreerd onder meldingnummer 2026-4711."
    " Uw melding wordt zo snel mogelijk behandeld.\n",
    "Su correo ha sido recibido y registrado con el número de caso 5521. Será"
    " atendido lo antes posible.\n",
    "La sua e-mail è stata ricevuta e registrata con il numero di richiesta"
    " 7781. Sarà gestita al più presto.\n",
    # A retester's: the key and the whole subject between request and verb.
    'Your request HELP-4711 "Security incident suspected at SITE-ALPHA" has been'
    " received and is being reviewed by our support staff.\n\nView request:"
    " https://support.site-a.example.com/browse/HELP-4711\n",
    # Only the ticket's number, in a short text (OTRS/Znuny's plain setting).
    "Dear Sir or Madam,\n\nthank you for your message. Your ticket number is"
    " 2026120710000012. Please do not change the subject when replying.\n\n"
    "Your OTRS team\n",
    "Sehr geehrte Damen und Herren,\n\nvielen Dank für Ihre Nachricht. Ihre"
    " Ticketnummer lautet 2026120710000012.\n\nIhr Service Desk\n",
    # The mail received and filed as a ticket in one sentence, and "we
    # opened a ticket for your mail", with no promise (breaker brk13 F3).
    "Thank you, your message has been received and logged as ticket #4711.\nA"
    " member of our team will look at it.\n",
    "Ihre Nachricht ist eingegangen und wurde als Ticket #4711 erfasst.\n",
    "Votre message a bien été reçu et enregistré sous le ticket 4711.\n",
    "Uw bericht is ontvangen en geregistreerd als melding 4711.\n",
    "Su mensaje ha sido recibido y registrado como ticket 4711.\n",
    "Dear customer,\nwe have opened ticket 4712 for your request.\nRegards\n",
    "Dear customer,\nwe have opened ticket 4701 for the host"
    " ui01.site-a.example.com (192.0.2.15) you wrote about.\nRegards\n",
    "Sehr geehrte Damen und Herren,\nwir haben das Ticket 4712 für Ihre Anfrage"
    " eröffnet.\n",
    "Bonjour,\nnous avons ouvert le ticket 4712 pour votre demande.\n",
    "Beste,\nwij hebben ticket 4712 aangemaakt voor uw melding.\n",
    "Estimado cliente,\nhemos abierto el ticket 4712 para su solicitud.\n",
    "Gentile cliente,\nabbiamo aperto il ticket 4712 per la sua richiesta.\n",
    "Caro cliente,\nabrimos o chamado 4712 para o seu pedido.\n",
    "Szanowni Państwo,\nutworzyliśmy zgłoszenie 4712 dla Państwa wiadomości.\n",
    "Vážený zákazníku,\nzaložili jsme požadavek 4712 pro Vás.\n",
]
# Out-of-office notices under the subject of the mail they answer, no header.
AWAY_NOTICES = [
    "Hello,\n\nI am out of the office until 14 December with limited access to"
    " e-mail. For urgent matters please contact security@site-a.example.com.\n"
    "\nJane\n",
    "Guten Tag,\n\nich bin bis zum 14.12. nicht im Büro. In dringenden Fällen"
    " wenden Sie sich bitte an security@site-a.example.com.\n",
    "Bonjour,\n\nje suis absente jusqu'au 14 décembre. En cas d'urgence,"
    " contactez security@site-a.example.com.\n",
    "Ik ben tot en met 14 december afwezig. In dringende gevallen kunt u"
    " contact opnemen met security@site-a.example.com.\n",
    "Hello,\n\nI am out of the office until 14 December. I will answer your"
    " message upon my return.\n\nJane\n",
    "I'm away until Monday 14 December; your e-mail will not be forwarded.\n",
    # Whom to ask meanwhile, and nothing about the incident.
    "I am on leave until 14 December. Please contact my colleague Pierre"
    " (pierre@site-a.example.com) for urgent matters.\n",
    "I am out of office until 14 December, for urgent matters contact"
    " security@site-a.example.com. I will reply to your message on my return.\n",
    "Ich bin bis zum 14. Dezember im Urlaub. Bitte wenden Sie sich an meinen"
    " Kollegen Pierre. Nach meiner Rückkehr werde ich Ihre Nachricht lesen.\n",
    "Je suis en congés jusqu'au 14 décembre. Merci de contacter mon collègue"
    " Pierre en cas d'urgence.\n",
    "I am on leave until 14 December. Please contact my colleague Pierre, who"
    " can provide the information you need; he will forward it. The"
    " information contained in this e-mail is confidential.\n",
]
# People who say they are away, in their own words, and answer all the same
# (breaker F10): no template says sorry for the delay or who sends the logs.
AWAY_PEOPLE = [
    "Hello,\n\nI'm out until Monday 14th, sorry for the delay. My colleague"
    " Pierre will send the logs.\n\nBest regards,\nJean\n",
    "Hi Alice,\n\nI am away until Wednesday; Pierre is looking at the host and"
    " will answer tomorrow.\n\nJean\n",
    # Whom to ask, as a template says, and about this incident's matter:
    # the logs, the host, the evidence, who sends them (fixer finding 3).
    "I am on leave until 14 December. Please contact my colleague Pierre, he"
    " has the logs and will send them today.\n",
    "Hello,\n\nI am out of the office until Monday. Please contact Pierre in"
    " urgent cases: he isolated the host and keeps the evidence.\n",
    "I'm on holiday until the 14th; please contact Pierre, he will forward the"
    " log files to you.\n",
    "Ich bin bis zum 14. Dezember im Urlaub. In dringenden Fällen wenden Sie"
    " sich an Pierre, er hat die Logs und schickt sie Ihnen heute.\n",
    "Je suis en congés jusqu'au 14 décembre. Merci de contacter mon collègue"
    " Pierre en cas d'urgence : il a les journaux et vous les enverra.\n",
    "Ik ben tot 14 december afwezig. In dringende gevallen kunt u Pierre"
    " bellen; hij stuurt u vandaag de logs.\n",
]
# People who name tickets, and reports that name a ticket but opened none.
NOT_ACKS = [
    ("Hi Alice,\n\nwe have opened ticket #4711 for this and isolated the host at"
     " 10:40 UTC.\n\nPekka\n", {}, "human"),
    ("The VM was suspended at 10:40; the ticket stays open until the forensics"
     " are done.\n", {"RT-Ticket": "SITE-A #4711"}, "human"),
    ("Dear colleagues,\nticket #4711 has been opened for this incident; please do"
     " not reply to this address but to abuse@.\nAlice\n", {}, "human"),
    ("Host isolated.\n\n> This message has been generated automatically.\n> A"
     " ticket has been created for your request.\n", {}, "human"),
    ("--- Automated message: to reach us, open a support ticket on our site"
     " ---\nAbuse from 192.0.2.45 seen at 2026-12-04 08:00 UTC.\n",
     {"Auto-Submitted": "auto-generated"}, "automated"),
    # A person's answer: it names a ticket, a desk or an absence, and says
    # what was done.
    ("Hi Alice,\n\nthe host ui01 was isolated at 10:40 UTC and ticket"
     " INC0012345 has been opened for the reinstallation.\n\nPekka\n", {},
     "human"),
    ("Hi Alice,\n\nyour mail was received by our team and we opened"
     " INC0012345; the host was isolated at 10:40 UTC.\n\nPekka\n", {}, "human"),
    ("Hi Alice,\n\nI was out of the office yesterday, sorry. The host is"
     " isolated; we opened INC0012345 for it.\n\nPekka\n", {}, "human"),
    ("Hi,\n\nI'm out of office until Monday, but ui01 was isolated at 10:40"
     " UTC; please contact Bob for the logs.\n\nJane\n", {}, "human"),
    ("Hi Alice,\n\nyour ticket number is 4711; ui01 was isolated at 10:40 UTC."
     "\n\nPekka\n", {}, "human"),
    ("Hi Alice,\n\nyour ticket number is 4711 here. We found the miner on"
     " 192.0.2.45 and reinstalled it.\n\nPekka\n", {}, "human"),
    # A ticket opened for the sender's mail, and what was done (brk13 F3).
    ("Hi Alice, we isolated the host, see our ticket #123.\n", {}, "human"),
    ("Hi Alice,\nwe have opened ticket #4711 for your report and isolated the"
     " host at 10:40 UTC.\n", {}, "human"),
    ("Hi Alice,\nwe have opened ticket #4711 for your report; the logs follow"
     " tomorrow.\n", {}, "human"),
    ("Hallo Alice,\nwir haben den Rechner isoliert und das Ticket 4711 für Ihre"
     " Meldung angelegt.\n", {}, "human"),
    ("Bonjour Alice,\nnous avons ouvert le ticket 4711 pour votre demande et la"
     " machine est isolée.\n", {}, "human"),
    ("Hi Alice,\nyour message has been received and logged; we isolated the"
     " host.\n", {}, "human"),
    ("Hallo Alice,\nwir haben den Host, den Sie gemeldet haben, vom Netz"
     " genommen (Ticket 4711).\n", {}, "human"),
    ("Hallo Alice,\nwir haben Ihre Meldung zum Ticket 4711 gelesen und melden"
     " uns morgen.\n", {}, "human"),
]  # fmt: skip


def _classified(body: str, headers: dict[str, str], subject: str) -> str:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    lines += [
        "From: Helpdesk <helpdesk@site-a.example.com>",
        f"Subject: {subject}",
        "Message-ID: <x@site-a.example.com>",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    parsed = parse("\r\n".join(lines).encode())
    assert parsed.message is not None
    return classify(parsed.message).kind


@pytest.mark.parametrize(
    "body", TICKET_ACKS, ids=[f"ack{n}" for n in range(len(TICKET_ACKS))]
)
def test_ticket_acknowledgements_are_auto_replies(body: str) -> None:
    subject = "[SITE-A #4711] Re: [EGI-20261130-01] Compromised host"
    assert _classified(body, {}, subject) == "auto_reply"


@pytest.mark.parametrize(
    "body",
    DESK_RECEIPTS + AWAY_NOTICES,
    ids=[f"desk{n}" for n in range(len(DESK_RECEIPTS))]
    + [f"away{n}" for n in range(len(AWAY_NOTICES))],
)
def test_desk_receipts_and_away_notices_under_a_reply_subject_are_auto_replies(
    body: str,
) -> None:
    subject = "Re: [EGI-20261130-01] [TLP:AMBER] Compromised host"
    assert _classified(body, {"In-Reply-To": "<a@csirt.example.org>"}, subject) == (
        "auto_reply"
    )


def test_ticket_system_header_and_a_ticket_opened_are_an_acknowledgement() -> None:
    body = "Your request (#31001) has been received by the SITE-A helpdesk.\n"
    subject = "[SITE-A #31001] [EGI-20261130-01] Compromised host"
    assert _classified(body, {"RT-Ticket": "SITE-A #31001"}, subject) == "auto_reply"
    # Without the header, a person may have written the same words.
    assert _classified(body, {}, subject) == "human"


@pytest.mark.parametrize(
    ("body", "headers", "kind"), NOT_ACKS, ids=[f"not{n}" for n in range(len(NOT_ACKS))]
)
def test_mail_naming_a_ticket_is_no_acknowledgement(
    body: str, headers: dict[str, str], kind: str
) -> None:
    assert _classified(body, headers, "[EGI-20261130-01] Compromised host") == kind


@pytest.mark.parametrize(
    ("headers", "subject", "kind"),
    [
        ({"Auto-Submitted": "auto-generated"}, "Abuse from 192.0.2.45", "automated"),
        ({"X-ARF": "yes"}, "abuse report about 192.0.2.45", "automated"),
        # A machine answering a mail is an auto-reply, whatever it says.
        ({"Auto-Submitted": "auto-generated"}, "Re: Abuse report", "auto_reply"),
        (
            {"Auto-Submitted": "auto-generated", "In-Reply-To": "<a@x.org>"},
            "Abuse report",
            "auto_reply",
        ),
        ({"Auto-Submitted": "auto-replied"}, "Abuse report", "auto_reply"),
        # Bulk mail from an ordinary address stays automatic, not a report.
        ({"Precedence": "bulk"}, "Newsletter", "auto_reply"),
        (
            {"Content-Type": f"multipart/report; report-type={MDN}"},
            "Read: Abuse report",
            "auto_reply",
        ),
        ({}, "Report domain: example.org Submitter: mx.example.net", "auto_reply"),
    ],
)
def test_reports_are_told_from_answers(
    headers: dict[str, str], subject: str, kind: str
) -> None:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    if "Content-Type" not in headers:
        lines.append("Content-Type: text/plain")
    lines += [
        "From: Scanner <scanner@reports.example.net>",
        f"Subject: {subject}",
        "Message-ID: <r@reports.example.net>",
        "",
        "Seen 2026-12-04 08:00 UTC from 192.0.2.45.\n",
    ]
    parsed = parse("\r\n".join(lines).encode())
    assert parsed.message is not None
    assert classify(parsed.message).kind == kind


def _app(tmp_path: Path, database_url: str, dovecot: Any, smtp: Any) -> Any:
    return make_app(
        tmp_path, database_url, dovecot=dovecot, smtp=smtp, now=NOW,
        sites=CASES_SITES + SITE_X,
    )  # fmt: skip


def _incoming(app: Any) -> list[tuple[str, str, list[str], str | None]]:
    with app.db.transaction() as session:
        rows = session.execute(
            select(Mail.message_id, Mail.role, Mail.flags, Incident.site)
            .outerjoin(Incident, Incident.id == Mail.incident_id)
            .where(Mail.direction == "in", Mail.incident_id.is_not(None))
            .order_by(Mail.id)
        ).all()
    return [(r[0], r[1], list(r[2] or []), r[3]) for r in rows]


def _outbox(app: Any) -> int:
    with app.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Outbox)) or 0)


def test_corpus_robot_reports_open_incidents_and_get_no_answer(
    corpus_dir: Path, tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    raws = [(corpus_dir / name).read_bytes() for name in CORPUS_REPORTS]
    dovecot.append_many(raws, internaldate=NOW - dt.timedelta(minutes=5))
    app = _app(tmp_path, database_url, dovecot, smtp_sink)
    service.poll(app)
    found = _incoming(app)
    assert len(found) == len(CORPUS_REPORTS)
    assert {(role, tuple(flags)) for _, role, flags, _ in found} == {
        ("reporter", ("automated",))
    }
    assert sorted(s or "" for *_, s in found) == sorted(
        s or "" for s in CORPUS_REPORTS.values()
    )
    status = views.status(app, service.last_poll(app))
    assert status["unattached"] == 0 and status["incidents_open"] == len(raws)
    assert _outbox(app) == 0 and smtp_sink.messages == []
    # A person's report is answered as ever: the robots only were not.
    dovecot.append(
        raw_mail(
            subject="Scans from 192.0.2.45", body="Seen at 08:00 UTC.\n",
            sender="Jo Analyst <jo@cert.example.net>", when=NOW,
            message_id="<person@cert.example.net>",
        ),
        internaldate=NOW,
    )  # fmt: skip
    service.poll(app)
    assert [list(m.recipients) for m in smtp_sink.messages] == [["jo@cert.example.net"]]


def _flood_report(number: int) -> bytes:
    return raw_mail(
        subject=f"Abuse report about 192.0.2.{number % 100 + 1} - RID {number}",
        body=f"Attack from 192.0.2.{number % 100 + 1} at 2026-12-04 08:00 UTC.\n",
        sender="Scanner <noreply@scanner.example.net>", when=NOW,
        message_id=f"<flood-{number}@scanner.example.net>",
        headers=[("Auto-Submitted", "auto-generated"), ("X-ARF", "yes"),
                 ("Reply-To", "desk@scanner.example.net")],
    )  # fmt: skip


def test_a_flood_of_robot_reports_sends_nothing(
    tmp_path: Path, database_url: str, dovecot, smtp_sink
) -> None:  # type: ignore[no-untyped-def]
    count = 1000
    dovecot.append_many(
        [_flood_report(n) for n in range(count)],
        internaldate=NOW - dt.timedelta(minutes=5),
    )
    app = _app(tmp_path, database_url, dovecot, smtp_sink)
    assert service.poll(app).fetched == count
    found = _incoming(app)
    assert len(found) == count
    assert {(role, tuple(flags), site) for _, role, flags, site in found} == {
        ("reporter", ("automated",), "SITE-A")
    }
    assert _outbox(app) == 0 and smtp_sink.messages == []
    assert brake.state(app)["engaged_at"] is None
    # Nor later: a reporter's incident starts no clock of the site's.
    app.clock.set(NOW + dt.timedelta(days=3))
    assert sweep(app)["reminders"] == 0 and _outbox(app) == 0


def request_details(w: World, tag: str) -> None:
    """A member asks SITE-A for details at 10:30 UTC (analysis due 14:30)."""
    w.deliver(
        member_mail(
            subject=f"[{tag}] Compromised host - action required",
            body="Please isolate the host and send the logs.\n",
            when=at("2026-11-30T10:30:00"),
            message_id="<alice-req-1@csirt.example.org>",
            to=SITE_A, cc=ABUSE,
        ),
        at("2026-11-30T10:30:00"),
    )  # fmt: skip


def _analysis(w: World, tag: str) -> list[tuple[str, str | None]]:
    deadlines = w.show(tag)["deadlines"]
    return [(d["state"], d["met_at"]) for d in deadlines if d["rule"] == "analysis"]


def test_ticket_acknowledgement_meets_no_clock_and_chasing_goes_on(w: World) -> None:
    tag = site_report(w)
    request_details(w, tag)
    w.new_mail()
    assert _analysis(w, tag) == [("pending", None)]
    # The site's helpdesk acknowledges the request, then its monitoring
    # robot sends an alert into the thread: neither is the site's answer.
    w.deliver(
        raw_mail(
            subject=f"[SITE-A #4711] Re: [{tag}] Compromised host - action required",
            body=TICKET_ACKS[0], sender="Site A Helpdesk <helpdesk@site-a.example.com>",
            when=at("2026-11-30T10:31:00"), message_id="<ack-4711@site-a.example.com>",
            reply_to="<alice-req-1@csirt.example.org>",
        ),
        at("2026-11-30T10:31:00"),
    )  # fmt: skip
    w.deliver(
        raw_mail(
            subject=f"[{tag}] ALERT wn12.site-a.example.com outbound traffic",
            body="Outbound traffic from 192.0.2.45 to 203.0.113.77 at 10:35 UTC.\n",
            sender="Monitor <noreply@site-a.example.com>",
            when=at("2026-11-30T10:36:00"),
            message_id="<alert-1@site-a.example.com>",
        ),
        at("2026-11-30T10:36:00"),
    )  # fmt: skip
    assert w.new_mail() == []
    assert _analysis(w, tag) == [("pending", None)]
    roles = {m["message_id"]: (m["role"], m["flags"]) for m in w.show(tag)["messages"]}
    assert roles["<ack-4711@site-a.example.com>"] == ("auto_reply", [])
    assert roles["<alert-1@site-a.example.com>"] == ("reporter", ["automated"])
    # The clock falls due unmet, and the site is chased.
    w.app.clock.set(at("2026-11-30T14:31:00"))
    assert sweep(w.app)["reminders"] == 1
    assert _analysis(w, tag)[0][0] == "missed"


@pytest.mark.parametrize(
    "body", AWAY_PEOPLE, ids=[f"person{n}" for n in range(len(AWAY_PEOPLE))]
)
def test_a_person_away_answering_in_own_words_is_human(body: str) -> None:
    subject = "Re: [EGI-20261130-01] [TLP:AMBER] Compromised host"
    headers = {"In-Reply-To": "<a@csirt.example.org>"}
    assert _classified(body, headers, subject) == "human"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "auto_reply"},
        {"X-Autogenerated": "Reply"},
    ],
)
@pytest.mark.parametrize("body", AWAY_PEOPLE[2:], ids=lambda b: b[:20])
def test_headers_decide_before_the_text(body: str, headers: dict[str, str]) -> None:
    """A machine marks its notice: whatever the words, it is no answer."""
    subject = "Re: [EGI-20261130-01] [TLP:AMBER] Compromised host"
    headers = {"In-Reply-To": "<a@csirt.example.org>", **headers}
    assert _classified(body, headers, subject) == "auto_reply"


def answer_request(w: World, body: str, sender: str, message_id: str) -> str:
    """SITE-A's report, a member's request, and at 10:40 a reply to it."""
    tag = site_report(w)
    request_details(w, tag)
    w.new_mail()
    w.deliver(
        raw_mail(
            subject=f"Re: [{tag}] Compromised host - action required",
            body=body, sender=sender, when=at("2026-11-30T10:40:00"),
            message_id=message_id, reply_to="<alice-req-1@csirt.example.org>",
        ),
        at("2026-11-30T10:40:00"),
    )  # fmt: skip
    return tag


@pytest.mark.parametrize(
    "body", [AWAY_PEOPLE[0], AWAY_PEOPLE[2]], ids=["own", "contact"]
)
def test_a_person_away_answering_meets_the_request(w: World, body: str) -> None:
    sender = f"Jean <{SITE_A}>"
    tag = answer_request(w, body, sender, "<jean@site-a.example.com>")
    roles = {m["message_id"]: m["role"] for m in w.show(tag)["messages"]}
    assert roles["<jean@site-a.example.com>"] == "site"
    assert [state for state, _ in _analysis(w, tag)] == ["met"]


@pytest.mark.parametrize(
    "body", [DESK_RECEIPTS[0], AWAY_NOTICES[0]], ids=["desk", "away"]
)
def test_a_desk_receipt_or_away_notice_meets_no_clock(w: World, body: str) -> None:
    desk = "Service Desk <servicedesk@site-a.example.com>"
    tag = answer_request(w, body, desk, "<desk@site-a.example.com>")
    assert w.new_mail() == []
    assert _analysis(w, tag) == [("pending", None)]
    w.app.clock.set(at("2026-11-30T14:31:00"))
    assert sweep(w.app)["reminders"] == 1
