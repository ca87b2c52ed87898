"""A site's reply read alike in every language the README promises (a
breaker's brk12 F1-F3): an out-of-office notice with no header meets no
clock, and a downtime declared or not needed, or the incident resolved,
meets its clock, in German, French, Dutch, Spanish, Italian, Portuguese,
Polish and Czech as in English. A site's real answer that mentions
someone's leave stays an answer. The words one by one, then end to end
through a private Dovecot and a real SMTP server on loopback."""

from __future__ import annotations

import datetime as dt

import pytest
from test_csirt_env import SITE_A, World, at, body_of, raw_mail, site_report
from test_machine_mail import answer_request, request_details

from mailbot.absence import absence_reason
from mailbot.deadlines.events import (
    reports_downtime,
    reports_isolation,
    reports_resolution,
    reports_switched_off,
)
from mailbot.deadlines.sweep import sweep
from mailbot.words import normalise

pytest_plugins = ("test_csirt_env",)

# Out-of-office templates sent with no Auto-Submitted or other header.
AWAY_NOTICES = [
    "Je suis absent du bureau jusqu'au 7 décembre. Pour toute urgence, veuillez"
    " contacter helpdesk@site-a.example.com.\n",
    "Bonjour, je suis actuellement absent et je n'aurai pas accès à mes courriels."
    " Je répondrai à votre message dès que possible.\n",
    "I'm on leave until 7 December. I will respond to your email when I get back.\n",
    "Ich bin vom 30.11. bis 4.12. nicht im Haus. Bitte wenden Sie sich an"
    " helpdesk@site-a.example.com.\n",
    "Sono in ferie fino al 7 dicembre. Per questioni urgenti contattare"
    " helpdesk@site-a.example.com.\n",
    "Ich befinde mich bis 7.12. auf Dienstreise. Bei dringenden Anliegen wenden"
    " Sie sich bitte an helpdesk@site-a.example.com.\n",
    "Ik ben van 30 november tot 7 december afwezig. Voor dringende zaken kunt u"
    " contact opnemen met helpdesk@site-a.example.com.\n",
    "Estoy fuera de la oficina hasta el 7 de diciembre. Para asuntos urgentes,"
    " por favor contacte helpdesk@site-a.example.com.\n",
    "Estou de férias até 7 de dezembro. Para assuntos urgentes, por favor"
    " contacte helpdesk@site-a.example.com.\n",
    "Jestem na urlopie do 7 grudnia. W pilnych sprawach proszę o kontakt z"
    " helpdesk@site-a.example.com.\n",
    "Jsem na dovolené do 7. prosince. V naléhavých případech se obraťte na"
    " helpdesk@site-a.example.com.\n",
]
# People who answer and mention a leave, theirs or another's.
AWAY_PEOPLE = [
    "Hi Alice, our admin was on leave, we have now isolated the host. Please"
    " contact me for anything urgent.\n",
    "Unser Admin war im Urlaub; der Rechner ist jetzt vom Netz genommen. Bitte"
    " wenden Sie sich an mich.\n",
    "Notre administrateur était en congés, nous avons maintenant isolé la machine."
    " Veuillez contacter Pierre pour toute urgence.\n",
    "Il nostro amministratore era in ferie, ora abbiamo isolato il nodo. Per"
    " questioni urgenti contattare Pierre.\n",
    "Bonjour, je suis absent demain. Pour toute urgence, veuillez contacter"
    " Pierre, il a les journaux.\n",
    "Ich bin bis Montag im Urlaub. Bitte wenden Sie sich an Pierre, er hat die"
    " Logs und schickt sie heute.\n",
    "Sono in ferie fino al 7 dicembre. Per questioni urgenti contattare Pierre:"
    " il nodo è stato isolato.\n",
    "I'm on leave until Monday, sorry; ui01 was isolated at 10:40. I will"
    " respond to your email when I get back.\n",
    "Estou de férias, mas o servidor foi isolado. Para assuntos urgentes, por"
    " favor contacte Pierre.\n",
    "Jestem na urlopie, ale serwer został odizolowany. W pilnych sprawach proszę"
    " o kontakt z Pierre.\n",
    "Jsem na dovolené, ale server byl izolován. V naléhavých případech se obraťte"
    " na Pierra.\n",
]


@pytest.mark.parametrize("text", AWAY_NOTICES, ids=lambda t: t[:24])
def test_an_away_notice_is_told_in_every_language(text: str) -> None:
    assert absence_reason(normalise(text)) is not None


@pytest.mark.parametrize("text", AWAY_PEOPLE, ids=lambda t: t[:24])
def test_an_answer_that_mentions_a_leave_is_no_notice(text: str) -> None:
    assert absence_reason(normalise(text)) is None


@pytest.mark.parametrize(
    "text",
    [
        "Wir haben eine Downtime in der GOCDB eingetragen.",
        "Die Downtime ist eingetragen.",
        "Der CE ist jetzt in Downtime.",
        "Eine Downtime ist nicht notwendig.",
        "Keine Downtime notwendig.",
        "Downtime: nicht erforderlich",
        "Nous avons déclaré un downtime dans la GOCDB.",
        "Un downtime a été déclaré dans la GOCDB.",
        "Pas besoin de downtime.",
        "Le downtime n'est pas nécessaire.",
        "Abbiamo dichiarato un downtime nella GOCDB.",
        "Il downtime è stato dichiarato.",
        "Nessun downtime necessario.",
        "Wij hebben een downtime in de GOCDB aangemeld.",
        "Geen downtime nodig.",
        "Hemos declarado un downtime en la GOCDB.",
        "No es necesario un downtime.",
        "Declarámos um downtime na GOCDB.",
        "Não é necessário downtime.",
        "Zgłosiliśmy downtime w GOCDB.",
        "Downtime nie jest potrzebny.",
        "Vyhlásili jsme downtime v GOCDB.",
        "Downtime není potřeba.",
    ],
)
def test_a_downtime_declared_or_not_needed_in_other_languages(text: str) -> None:
    assert reports_downtime(text)


@pytest.mark.parametrize(
    "text",
    [
        # The future, denied, asked, a condition, or one needed.
        "A downtime will be declared.",
        "Downtime will be scheduled tomorrow.",
        "Eine Downtime wird eingetragen.",
        "Wir werden eine Downtime eintragen.",
        "Wir haben noch keine Downtime eingetragen.",
        "Ist eine Downtime notwendig?",
        "Eine Downtime ist notwendig.",
        "Wenn eine Downtime eingetragen ist, melden wir uns.",
        "Der Rechner wird in Downtime gesetzt.",
        "Nous allons déclarer un downtime.",
        "Nous n'avons pas encore déclaré de downtime.",
        "Un downtime est nécessaire.",
        "Quand le downtime est déclaré, nous vous écrirons.",
        "Non abbiamo dichiarato un downtime.",
        "Il downtime non è stato dichiarato.",
        "Downtime nie został zgłoszony.",
        "Downtime je potřeba.",
    ],
)
def test_no_downtime_planned_denied_or_needed_in_other_languages(text: str) -> None:
    assert not reports_downtime(text)


@pytest.mark.parametrize(
    "text",
    [
        "Wir betrachten den Vorfall als abgeschlossen.",
        "Von unserer Seite betrachten wir den Vorfall als erledigt.",
        "Der Vorfall kann von unserer Seite geschlossen werden.",
        "Der Vorfall ist abgeschlossen.",
        "Sie können den Vorfall schließen.",
        "Nous considérons l'incident comme résolu.",
        "L'incident est résolu.",
        "L'incident peut être clos de notre côté.",
        "Vous pouvez clore l'incident.",
        "Consideriamo l'incidente risolto.",
        "L'incidente è stato risolto.",
        "L'incidente può essere chiuso.",
        "Wij beschouwen het incident als opgelost.",
        "Het incident kan worden gesloten.",
        "Consideramos el incidente resuelto.",
        "El incidente está resuelto.",
        "Consideramos o incidente resolvido.",
        "O incidente está resolvido.",
        "Uważamy incydent za zamknięty.",
        "Incydent można zamknąć.",
        "Považujeme incident za vyřešený.",
        "Incident je vyřešen.",
    ],
)
def test_resolution_in_other_languages(text: str) -> None:
    assert reports_resolution(text)


@pytest.mark.parametrize(
    "text",
    [
        "Wir betrachten den Vorfall noch nicht als abgeschlossen.",
        "Der Vorfall ist noch nicht abgeschlossen.",
        "Ist der Vorfall abgeschlossen?",
        "Sobald der Vorfall abgeschlossen ist, senden wir den Bericht.",
        "Der Vorfall kann geschlossen werden, sobald der Rechner neu installiert ist.",
        "Der Vorfall kann geschlossen werden, wenn Sie zustimmen.",
        "Der Vorfall wird geschlossen.",
        "Nous ne considérons pas l'incident comme résolu.",
        "L'incident n'est pas résolu.",
        "L'incident est-il résolu ?",
        "Quand l'incident est résolu, nous enverrons le rapport.",
        "L'incident peut être clos si vous êtes d'accord.",
        "Non consideriamo l'incidente risolto.",
        "L'incidente non è risolto.",
        "Quando l'incidente è chiuso, invieremo il rapporto.",
        "El incidente no está resuelto.",
        "Het incident is niet opgelost.",
        "Incydent nie jest rozwiązany.",
        "Incident není vyřešen.",
    ],
)
def test_no_resolution_denied_asked_or_conditional_in_other_languages(
    text: str,
) -> None:
    assert not reports_resolution(text)


@pytest.mark.parametrize(
    ("text", "isolated"),
    [
        ("Serwer został odizolowany.", True),
        ("Server byl izolován.", True),
        ("Serwer został wyłączony.", False),
        ("Server byl vypnut.", False),
        ("Server byl přeinstalován.", False),
    ],
)
def test_polish_and_czech_containment(text: str, isolated: bool) -> None:
    assert reports_isolation(text) is isolated
    assert reports_switched_off(text) is not isolated


@pytest.mark.parametrize(
    "text",
    [
        "Serwer nie został odizolowany.",
        "Serwer będzie odizolowany.",
        "Serwer nie jest wyłączony.",
        "Server nebyl izolován.",
        "Server ještě není izolován.",
        "Server bude vypnut.",
        "Server není vypnutý.",
    ],
)
def test_no_polish_or_czech_containment_denied_or_to_come(text: str) -> None:
    assert not reports_isolation(text) and not reports_switched_off(text)


def _reply(w: World, tag: str, body: str, when: str, message_id: str) -> None:
    w.deliver(
        raw_mail(
            subject=f"Re: [{tag}] Compromised host - action required",
            body=body, sender=f"Pekka Admin <{SITE_A}>", when=at(when),
            message_id=message_id, reply_to="<alice-req-1@csirt.example.org>",
        ),
        at(when),
    )  # fmt: skip


def _states(w: World, tag: str) -> dict[str, str]:
    return {d["rule"]: d["state"] for d in w.show(tag)["deadlines"]}


@pytest.mark.parametrize(
    "body", [AWAY_NOTICES[0], AWAY_NOTICES[3], AWAY_NOTICES[4]], ids=["fr", "de", "it"]
)
def test_an_away_notice_without_headers_meets_no_request(w: World, body: str) -> None:
    tag = answer_request(w, body, f"Pekka <{SITE_A}>", "<away@site-a.example.com>")
    roles = {m["message_id"]: m["role"] for m in w.show(tag)["messages"]}
    assert roles["<away@site-a.example.com>"] == "auto_reply"
    assert w.new_mail() == []
    assert _states(w, tag)["analysis"] == "pending"
    # The request falls due unmet, and the site is chased.
    w.app.clock.set(at("2026-11-30T14:31:00"))
    assert sweep(w.app)["reminders"] == 1


def test_an_answer_mentioning_a_leave_meets_the_request(w: World) -> None:
    sender = f"Pekka <{SITE_A}>"
    tag = answer_request(w, AWAY_PEOPLE[2], sender, "<pekka@site-a.example.com>")
    roles = {m["message_id"]: m["role"] for m in w.show(tag)["messages"]}
    assert roles["<pekka@site-a.example.com>"] == "site"
    assert _states(w, tag)["analysis"] == "met"


def test_a_german_downtime_and_a_french_resolution_meet_their_clocks(
    w: World,
) -> None:
    tag = site_report(w)
    request_details(w, tag)
    _reply(
        w, tag,
        "Hallo Alice,\nder Rechner wn12 wurde um 10:35 UTC isoliert. Wir haben eine"
        " Downtime in der GOCDB eingetragen.\nGrüße\n",
        "2026-11-30T10:40:00", "<dt@site-a.example.com>",
    )  # fmt: skip
    states = _states(w, tag)
    assert (states["containment"], states["downtime"]) == ("met", "met")
    _reply(
        w, tag,
        "Bonjour,\nnous avons réinstallé wn12. Nous considérons l'incident comme"
        " résolu.\nCordialement\n",
        "2026-11-30T11:00:00", "<fin@site-a.example.com>",
    )  # fmt: skip
    shown = w.show(tag)
    assert shown["resolved_at"] is not None
    assert dt.datetime.fromisoformat(shown["resolved_at"]) == at("2026-11-30T11:00:00")
    assert _states(w, tag)["closure_report"] == "pending"
    # No reminder asks for the downtime the site declared.
    w.new_mail()
    w.app.clock.set(at("2026-12-01T10:30:00"))
    sweep(w.app)
    assert not any("downtime" in body_of(m).lower() for m in w.new_mail())
    assert _states(w, tag)["downtime"] == "met"
