"""What a site's own words report, with no time given (deadlines/events.py)."""

from __future__ import annotations

import ipaddress

import pytest

from mailbot.deadlines.events import (
    reports_containment,
    reports_downtime,
    reports_isolation,
    reports_resolution,
)


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


# A breaker's repro-9: each of these left the containment clock pending, so
# a site that had isolated its host was chased for it.
@pytest.mark.parametrize(
    "text",
    [
        "We blocked the host at the network.",
        "We blocked it at the network level.",
        "We blocked wn12.example.org at the firewall.",
        "It is suspended now.",
        "Thanks, the VM was compromised; it is suspended now.",
        "The VM was compromised and is suspended now.",
        "Network access of the host was blocked at 09:30 UTC.",
        "Network connectivity of ui01 (192.0.2.10) has been cut.",
        "The VM is shut off from the network.",
        "After the VM was suspended we took a snapshot.",
        "When we found it we isolated the host.",
        "Before it is reinstalled, the host is isolated.",
    ],
)
def test_isolation_in_the_words_of_the_domain(text: str) -> None:
    assert reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "The host is not isolated yet.",
        "We will isolate it tomorrow.",
        "We will suspend the VM tomorrow.",
        "The VM is not suspended.",
        "Is the VM suspended?",
        "We have not blocked the host at the network yet.",
        "Network access of the host will be blocked tomorrow.",
        "Once the host is isolated we will take a snapshot.",
        "When the VM is suspended, we take a snapshot.",
        # Another action than isolating the site's host.
        "The user was suspended.",
        "The user's account is suspended now.",
        "We blocked the attacker IP at the firewall.",
        "The attacker's IP 203.0.113.7 was blocked at the firewall.",
        "We blocked 203.0.113.7 at the firewall.",
    ],
)
def test_no_isolation_planned_denied_conditional_or_of_a_user(text: str) -> None:
    assert not reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "We don't need a downtime.",
        "We do not need any downtime.",
        "No need for a downtime.",
        "The CE is in downtime until Friday.",
        "We put the SE into downtime.",
        "The downtime was declared in GOCDB.",
    ],
)
def test_downtime_named_or_not_needed(text: str) -> None:
    assert reports_downtime(text)


@pytest.mark.parametrize(
    "text",
    [
        "The CE is not in downtime.",
        "The CE will be put in downtime.",
        "Do we need a downtime?",
        "We will declare a downtime tomorrow.",
    ],
)
def test_no_downtime_denied_planned_or_asked(text: str) -> None:
    assert not reports_downtime(text)


# A breaker's repro-10: a site's promise started the closure-report clock.
@pytest.mark.parametrize(
    "text",
    [
        "Once the incident is resolved we will send the closure report.",
        "When the incident is resolved, we send the report.",
        "Until the incident is resolved the host stays offline.",
        "As soon as the issue has been resolved we'll tell you.",
        "The incident is not resolved yet.",
    ],
)
def test_no_resolution_in_a_condition_or_the_future(text: str) -> None:
    assert not reports_resolution(text)


@pytest.mark.parametrize(
    "text",
    [
        "The incident is resolved.",
        "The incident is resolved, we will send the closure report next week.",
        "After two days the incident was resolved.",
    ],
)
def test_resolution_stated(text: str) -> None:
    assert reports_resolution(text)


# A retest of repro-9: each of these met containment, so a site that had
# not isolated its host was no longer chased.
@pytest.mark.parametrize(
    "text",
    [
        # A comma inside the condition (an apposition, a relative clause)
        # does not end it.
        "When the host, ui01, is isolated we will let you know.",
        "Once the VM, which runs the CE, is suspended we will take a snapshot.",
        "When the host, as agreed, is isolated, we will tell you.",
        # The English infinitive is no (Italian) participle.
        "We would isolate the host if it were compromised.",
        "We are about to isolate the host.",
        "We failed to isolate the host.",
        "We want to isolate the host.",
        "The host would be isolated if it were compromised.",
        "We hope the host is isolated by now.",
        # Nobody did it.
        "No host was isolated.",
        "Nobody has isolated the host.",
        "None of the hosts was isolated.",
        "No VM was suspended.",
    ],
)
def test_no_isolation_in_a_condition_a_wish_or_with_nobody(text: str) -> None:
    assert not reports_isolation(text)


# ... and each of these left it pending: a compliant site was chased.
@pytest.mark.parametrize(
    "text",
    [
        "We suspended the user's VM.",
        "The user's VM was suspended.",
        "The VM running the user's jobs is suspended.",
        "The VM of the user was suspended.",
        "We blocked the host and the attacker's IP at the firewall.",
        "We blocked ui01 and the user at the network.",
        "The VM was suspended (not deleted) to keep forensic data.",
        "The VM was suspended, not deleted, to keep forensic data.",
        "The VM was suspended but not destroyed.",
        "Le macchine sono state isolate.",
        "No, the host was isolated at 09:00.",
        "Until we know more, the VM stays suspended.",
        "As you wanted, the host is isolated.",
        "We would like to tell you that the host was isolated.",
        "Hope you are well, the host is isolated.",
        "The host is isolated and we expect the analysis on Monday.",
        "There is no doubt the host was isolated.",
    ],
)
def test_isolation_of_a_users_vm_or_beside_other_words(text: str) -> None:
    assert reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "The user running jobs on the VM is suspended.",
        "The attacker's host was blocked at the firewall.",
        "We blocked the C2 server at the firewall.",
        "The VM was suspended (not yet).",
        "The VM was suspended? Not yet.",
        "The host was isolated, not successfully though.",
    ],
)
def test_still_no_isolation_of_a_user_the_attacker_or_undone(text: str) -> None:
    assert not reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "We hope the incident is resolved soon.",
        "We expect the incident is resolved on Monday.",
        "We hope that the issue has been resolved by then.",
        "Hopefully the incident is resolved by Friday.",
        "We intend to have the incident resolved by Friday.",
        "We wish the incident were resolved.",
        "We aim to have the issue resolved this week.",
        "The incident is resolved soon, we hope.",
    ],
)
def test_no_resolution_hoped_or_expected(text: str) -> None:
    assert not reports_resolution(text)


# A breaker's misses: a site that had cut its host off in these words was
# chased for containment.
@pytest.mark.parametrize(
    "text",
    [
        # The cable pulled.
        "We pulled the network cable.",
        "We pulled the network cable of wn12 at 10:00.",
        "The network cable of ui01 was pulled.",
        "The ethernet cable has been unplugged.",
        "We removed the uplink cables of both nodes.",
        # Moved into a network of its own.
        "The host was moved to a quarantine VLAN.",
        "We moved wn12.example.org (192.0.2.130) into the quarantine VLAN.",
        "The VM is now in a quarantine network.",
        "The node has been placed in an isolation VLAN.",
        "The server was re-patched to the quarantine VLAN.",
        # All its traffic stopped, both ways.
        "All traffic to/from the host is dropped at the firewall.",
        "All inbound and outbound traffic of wn12 is blocked.",
        "We drop all traffic to and from ui01 at the border firewall.",
        "The firewall now blocks all traffic from/to the VM.",
        "All connections to and from the node are now rejected.",
        # Isolated from the network, with what follows it.
        "The node is isolated from the network.",
        "The node has been isolated from the network pending further analysis.",
        "The node is isolated from the network, not yet reinstalled.",
        "The node is isolated from the network, it is not rebooted.",
        "The node is isolated from the network, but we did not reinstall it yet.",
        "The node is air-gapped now.",
        # Off the network, said of the host.
        "The node is offline.",
        "wn12 has no network access anymore.",
        "The VM no longer has network connectivity.",
    ],
)
def test_isolation_in_a_sites_other_words(text: str) -> None:
    assert reports_isolation(text)
    assert reports_containment(text)


@pytest.mark.parametrize(
    "text",
    [
        "Should we pull the network cable?",
        "We will pull the network cable tomorrow.",
        "We haven't pulled the cable yet.",
        "The network cable was not pulled.",
        "Please pull the network cable.",
        "Nobody pulled the cable.",
        "If needed we will move the host to a quarantine VLAN.",
        "The host was not moved to a quarantine VLAN.",
        "We have a quarantine VLAN.",
        "Can you move the host to the quarantine VLAN?",
        "The host is not yet in the quarantine VLAN.",
        "Once the host is in the quarantine VLAN, we take a snapshot.",
        "The logs were copied to the forensics network share.",
        "Traffic to the host will be dropped at the firewall.",
        "The attacker's traffic is dropped at the firewall.",
        # One way: the host is still reachable.
        "Outgoing traffic from the host is blocked.",
        # An outside address, or not known to be the site's.
        "All traffic to/from 203.0.113.7 is dropped at the firewall.",
        "All traffic to/from the attacker's host is dropped.",
        "All traffic to and from the host is not blocked yet.",
        "Is all traffic to/from the host dropped?",
        "The node will be isolated from the network.",
        "The node is isolated from the network, not yet.",
        "The node is isolated from the network - failed.",
        "The node is not offline.",
        "The C2 server is offline.",
        "We have no network access to the host.",
        "The attacker has no network access anymore.",
    ],
)
def test_no_isolation_in_those_words_asked_planned_denied_or_anothers(
    text: str,
) -> None:
    assert not reports_isolation(text)


def owns(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address in ipaddress.ip_network("192.0.2.128/25")


# DOMAIN.md: an address of the site's own networks is never the attacker's.
# Blocked at the firewall, it is the site's host cut off, whatever the site
# calls it.
@pytest.mark.parametrize(
    "text",
    [
        "We blocked the attacker IP 192.0.2.130 at the firewall.",
        "We blocked 192.0.2.130 (our UI) at the network.",
        "The attacker's IP 192.0.2.130 was blocked at the firewall.",
        "We blocked the scanner 192.0.2[.]130 at the firewall.",
        "We blocked 203.0.113.7 and 192.0.2.130 at the firewall.",
        "All traffic to/from 192.0.2.130 is dropped at the firewall.",
    ],
)
def test_an_own_address_blocked_is_the_sites_host(text: str) -> None:
    assert reports_isolation(text, owns)
    # Without the site's networks, an address is nobody's host.
    assert not reports_isolation(text)


@pytest.mark.parametrize(
    "text",
    [
        "We blocked the attacker IP 203.0.113.7 at the firewall.",
        "203.0.113.7 is blocked on the firewall.",
        "We will block 192.0.2.130 at the firewall.",
        "We have not blocked 192.0.2.130 at the firewall yet.",
        "Should we block 192.0.2.130 at the firewall?",
        # The attacker is blocked; the site's address is only named.
        "The attacker 203.0.113.7 who logged into 192.0.2.130 was blocked at"
        " the firewall.",
        "Our host 192.0.2.130 was attacked by 203.0.113.7, we blocked 203.0.113.7"
        " at the firewall.",
    ],
)
def test_an_outside_address_blocked_is_no_isolation(text: str) -> None:
    assert not reports_isolation(text, owns)


@pytest.mark.parametrize(
    "text",
    [
        "We consider the incident resolved.",
        "We consider the incident resolved from our side.",
        "We now consider this incident closed.",
        "We consider it resolved.",
        "Please consider the incident closed from our side.",
        "The incident can be closed from our side.",
        "From our side, the incident can be closed.",
        "As far as we are concerned the case can be closed.",
        "You can close the incident from our side.",
        "The host is reinstalled and we consider the incident resolved.",
    ],
)
def test_resolution_in_a_sites_other_words(text: str) -> None:
    assert reports_resolution(text)


@pytest.mark.parametrize(
    "text",
    [
        "Can the incident be closed from our side?",
        "We do not consider the incident resolved.",
        "We don't consider the incident resolved yet.",
        "Should we consider the incident resolved?",
        "We would consider the incident resolved if the scan is clean.",
        "We consider the incident resolved once the scan is clean.",
        "We will consider the incident resolved once the host is reinstalled.",
        "The incident can be closed once the host is reinstalled.",
        "The incident can be closed once we reinstalled the host.",
        "The incident can be closed if you agree.",
        "The incident cannot be closed yet.",
        "The incident can't be closed from our side.",
        "You can close the incident once we send the report.",
        "When you consider the incident resolved, tell us.",
        "The incident is resolved if the scan is clean.",
    ],
)
def test_no_resolution_in_those_words_denied_asked_or_conditional(text: str) -> None:
    assert not reports_resolution(text)


# The procedure: announce a downtime "if applicable". Saying it is not
# applicable answers the step.
@pytest.mark.parametrize(
    "text",
    [
        "Downtime: not applicable",
        "Downtime: N/A",
        "Downtime: n/a (the service is not in production)",
        "Downtime: not needed",
        "Downtime: none needed",
        "Downtime needed: no",
        "No downtime needed.",
        "No downtime was needed.",
        "A downtime is not necessary.",
        "No downtime is needed since the service is not in production.",
        "Downtime is not required as the service is not in production.",
    ],
)
def test_no_downtime_needed_answers_the_step(text: str) -> None:
    assert reports_downtime(text)


@pytest.mark.parametrize(
    "text",
    [
        "Is a downtime needed?",
        "Downtime: ?",
        "Downtime: TBD",
        "Downtime: pending",
        "Downtime: not yet",
        "Downtime: not yet announced",
        # None declared: it does not say none is needed.
        "Downtime: none",
        "Downtime not applicable?",
        "If no downtime is needed, we will tell you.",
        "We are not sure whether a downtime is needed.",
        "Downtime: not applicable yet",
    ],
)
def test_no_downtime_answer_asked_pending_or_none_declared(text: str) -> None:
    assert not reports_downtime(text)
