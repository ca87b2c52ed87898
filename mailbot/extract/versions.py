"""Dotted numbers that are versions, not IPv4 addresses.

"version 1.2.3.4", "openssl 1.1.1.1", "upgraded Zimbra from 8.8.15.1 to
8.8.15.2", "kinsing-1.2.3.4.tgz": the words before a dotted number, or the
file name it stands in, make it a version. The IPv4 scanner of
indicators.py asks `not_version` of each candidate; only the words decide,
so that a refusal holds for every line of a shape (indicators.scan's plans).
"""

from __future__ import annotations

import re
from typing import Final

from mailbot.extract.addresses import DOTTED

# A dotted number after these words is a version, not an address.
_VERSION: Final = re.compile(
    r"\b(?:version|ver|firmware|build|release|kernel|revision|rev|patch|update"
    r"|upgrade|agent|v)\b[\s:=#]*(?:is[\s]+|was[\s]+)?\Z",
    re.IGNORECASE,
)
# ... and so is one right after the name of a package, a library or a tool
# whose versions have four numbers ("openssl 1.1.1.1", "glibc 2.34.0.1",
# "nordugrid-arc-6.20.1.0", "xmrig/6.21.0.1"), written with a blank, "-" or
# "/". Names of services that are also hosts' names (squid, redis, a
# database) are not here: "squid 192.0.2.3" names the proxy's address. No
# name holds a digit: refusals are kept per shape of the line.
_SOFTWARE_WORDS: Final = (
    "openssl openssh glibc libc cvmfs arc xmrig cpuminer sudo polkit pkexec bash"
    " systemd curl wget libssh zlib xz busybox python perl php ruby java openjdk"
    " jdk jre firefox chrome chromium linux centos rhel almalinux rocky ubuntu"
    " debian fedora windows macos jenkins gitlab wordpress drupal moodle voms"
    " globus gridftp singularity apptainer docker podman kubernetes kubelet slurm"
    " htcondor condor dcache xrootd dirac rucio openstack esxi vmware qemu"
    " libvirt samba openldap exim postfix dovecot"
    # Applications sites run and name with their version ("running Zimbra
    # 8.8.15.1 when it was hacked", a retester's finding).
    " zimbra confluence jira exchange nextcloud owncloud tomcat fortios"
    " fortigate ivanti citrix netscaler roundcube vcenter keycloak jupyterhub"
    " openvpn webmin cpanel plesk phpmyadmin teamcity struts elasticsearch"
    " proftpd vsftpd mattermost"
)
_SOFTWARE: Final = frozenset(_SOFTWARE_WORDS.split())
# ... and so are both numbers of an upgrade: "updated Zimbra from 8.8.15.1
# to 8.8.15.2", "upgraded from 4.3.2.1 to 4.3.3.0", "patched openssl from
# version 1.1.1.1 to 1.1.1.2". Only the words tell: "from 203.0.113.7 to
# 192.0.2.10" is a connection, and a range of addresses ("192.0.2.10 to
# 192.0.2.20") reads like a pair of versions, so its numbers decide nothing
# (and they may not: a refusal holds for every line of a shape). The verb
# (not the noun "update": the malware "downloaded an update from" its C2)
# comes at most three words before "from", none ending a clause.
_UPGRADE: Final = (
    r"\b(?:upgrad(?:e|ed|es|ing)|downgrad(?:e|ed|es|ing)|updat(?:ed|ing)"
    r"|patch(?:ed|ing)|bump(?:s|ed|ing)?)(?:[ \t]+[\w+/-]+(?:\.[\w+/-]+)*){0,3}[ \t]+"
)
_VERSION_WORD: Final = r"(?:version[ \t]+|ver\.?[ \t]*|v)?"
_UPGRADE_FROM: Final = re.compile(
    _UPGRADE + r"from[ \t]+" + _VERSION_WORD + r"\Z", re.I
)
# The first number of "from X to Y", that a version makes a version too.
_FROM_TO: Final = re.compile(
    r"\bfrom[ \t]+"
    + _VERSION_WORD
    + r"(\d+(?:\.\d+)+)[ \t]+to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)
# "X -> Y": the second number of a pair whose first is a version.
_ARROW: Final = re.compile(
    r"(\d+(?:\.\d+)+)[ \t]*(?:->|→|=>)[ \t]*" + _VERSION_WORD + r"\Z", re.I
)
# "openssh from", "Our Zimbra went from", "patched sudo to": a name of
# _SOFTWARE among the three words before "from" or "to" (the verb need not
# be one of _UPGRADE then).
_WORDS_BEFORE: Final = re.compile(
    r"((?:[\w+/-]+[ \t]+){1,3})(from|to)[ \t]+" + _VERSION_WORD + r"\Z", re.I
)
# After "from X": " to " and another dotted number.
_TO_VERSION: Final = re.compile(
    r"\d+(?:\.\d+)+[ \t]+to[ \t]+" + _VERSION_WORD + r"\d+\.\d", re.I
)
# "upgraded (Zimbra) to 8.8.15.2": not "updated the record to 192.0.2.5".
_UPGRADE_TO: Final = re.compile(
    r"\b(?:upgrad|downgrad)\w*(?:[ \t]+[\w+/-]+(?:\.[\w+/-]+)*){0,3}[ \t]+to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)
# A dotted number followed by the extension of an archive or a package is
# a version in a file's name ("kinsing-1.2.3.4.tgz",
# "pkg-10.20.30.40.dist-info", "1.2.3.4.tar.gz"); so is one joined by "-"
# or "_" to a name with a letter and followed by no extension
# ("kinsing-1.2.3.4 was started"), while "auth-203.0.113.44.log" is the log
# of an address.
_NAMED: Final = re.compile(r"[A-Za-z][\w]*[-_]\Z")
PACKAGE_FILE: Final = re.compile(
    r"\.(?:tar\.(?:gz|bz2|xz|zst)|tgz|tbz2?|txz|zip|7z|rpm|s?rpm|deb|whl|egg"
    r"|dist-info|egg-info|jar|war|ear|gem|apk|msi|dmg|pkg|nupkg|snap)(?![\w-])",
    re.I,
)


def not_version(text: str, start: int) -> bool:
    before = text[max(0, start - 30) : start]
    if _VERSION.search(before) or _after_software(before):
        return False
    if before[-1:] in ("-", "_"):
        if _NAMED.search(before) is None:
            return True
        # "auth-203.0.113.44.log" is a log of the address.
        run = DOTTED.match(text, start)
        return run is not None and text[run.end() : run.end() + 1] == "."
    if before[-1:] not in (" ", "\t", "v", "."):
        return True
    # The words of an upgrade stand further back.
    before = text[max(0, start - 100) : start]
    if _UPGRADE_FROM.search(before):
        return _TO_VERSION.match(text, start) is None
    if _UPGRADE_TO.search(before):
        return False
    if _software_changed(text, start, before):
        return False
    pair = _FROM_TO.search(before) or _ARROW.search(before)
    return pair is None or not_version(text, start - len(before) + pair.start(1))


def _software_changed(text: str, start: int, before: str) -> bool:
    """Whether the dotted number at `start` is a version of a software that
    the words before it name: "openssh from X to Y", "Zimbra went from X to
    Y", "patched sudo to X", "updated the kernel to X" (not "updated the DNS
    record to X", "logins via ssh from X to Y")."""
    words = _WORDS_BEFORE.search(before)
    if words is None:
        return False
    named = any(
        word.lower().strip("()") in _SOFTWARE or _VERSION.search(word + " ")
        for word in words.group(1).split()
    )
    if not named:
        return False
    if words.group(2).lower() == "from":
        return _TO_VERSION.match(text, start) is not None
    # "to": only after a verb of change among or before those words.
    return _CHANGE_VERB.search(before, max(0, words.start(1) - 30)) is not None


_CHANGE_VERB: Final = re.compile(
    r"\b(?:updat|patch|bump|upgrad|downgrad)\w*[ \t]+(?:[\w+/-]+[ \t]+){0,2}to[ \t]+"
    + _VERSION_WORD
    + r"\Z",
    re.I,
)


def _after_software(before: str) -> bool:
    """Whether `before` ends with a name of _SOFTWARE and a blank, "-" or "/"."""
    tail = before.rstrip(" \t")
    if tail[-1:] in ("-", "/"):
        tail = tail[:-1].rstrip(" \t")
    elif len(tail) == len(before):
        return False  # "ab1.2.3.4" is no candidate; "x=1.2.3.4" names nothing
    # The last word, and its last piece ("nordugrid-arc", "xmrig/").
    word = tail.rsplit(None, 1)[-1].lower() if tail.strip() else ""
    piece = word[max(word.rfind("-"), word.rfind("/"), word.rfind("(")) + 1 :]
    return piece in _SOFTWARE or word in _SOFTWARE
