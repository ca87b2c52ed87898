"""What a site's own words report, with no time given (deadlines/events.py)."""

from __future__ import annotations

import pytest

from mailbot.deadlines.events import reports_containment, reports_isolation


@pytest.mark.parametrize(
    "text",
    [
        "Sorry, wn12 wasn't isolated, the hall is closed today.",
        "wn12 isn't quarantined yet.",
        "Is wn12 really isolated? We are not sure, checking.",
        "We asked the network team whether wn12 can be isolated today.",
        "If needed, wn12 gets disconnected tomorrow.",
        "The isolation is scheduled for tonight: wn12 will be disconnected.",
    ],
)
def test_no_isolation_in_the_negative_a_question_or_a_condition(text: str) -> None:
    # Each of these met the containment clock at the mail's time.
    assert not reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "The host was isolated at 10:00.",
        "We isolated wn12 this morning and took a disk image.",
        "wn12 is isolated.",
        "Host isolated; logs attached.",
        "The node has been disconnected from the network.",
    ],
)
def test_isolation_stated_as_done(text: str) -> None:
    assert reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        # A breaker's B6: each of these left the containment clock pending.
        "wir haben den Rechner ui01 (192.0.2.10) isoliert.",
        "Wir haben den Rechner vom Netz genommen (isoliert), Snapshot erstellt.",
        "Der Rechner ui01 ist vom Netz getrennt.",
        "nous avons isolé la machine ui01 (192.0.2.10) du réseau.",
        "La machine a été mise hors ligne.",
        "La machine a été déconnectée.",
        "abbiamo isolato la macchina ui01 (192.0.2.10) dalla rete.",
        "La macchina è stata scollegata.",
        "we hebben ui01 (192.0.2.10) van het netwerk gehaald (geïsoleerd).",
        "De server is offline gehaald.",
        "Hemos aislado el servidor.",
        "we took ui01 (192.0.2.10) off the network and took a snapshot.",
        "We removed wn12.example.org from the network.",
    ],
)
def test_isolation_stated_in_other_words_and_languages(text: str) -> None:
    assert reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "Bitte isolieren Sie den Rechner.",
        "Sollen wir den Rechner isolieren?",
        "Ist der Rechner isoliert?",
        "Der Rechner ist noch nicht isoliert.",
        "Der Rechner wird morgen isoliert.",
        "La machine n'est pas encore isolée.",
        "Nous allons isoler la machine.",
        "La macchina non è ancora isolata.",
        "De server is nog niet geïsoleerd.",
        "Please isolate ui01.",
        "Should we isolate ui01?",
        "We will take ui01 off the network tomorrow.",
        # The word describes; it reports nothing done.
        "It was an isolated incident, no other host was touched.",
        "Il s'agit d'un cas isolé.",
        "Se trata de un caso aislado.",
    ],
)
def test_no_isolation_asked_planned_denied_or_described(text: str) -> None:
    assert not reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "Der Rechner wurde abgeschaltet.",
        "La macchina è stata spenta.",
        "La machine est éteinte.",
        "De server is uitgeschakeld.",
    ],
)
def test_a_host_switched_off_is_contained(text: str) -> None:
    assert reports_containment(text)
    assert not reports_containment("Der Rechner wird morgen abgeschaltet.")
