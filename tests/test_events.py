"""What a site's own words report, with no time given (deadlines/events.py)."""

from __future__ import annotations

import pytest

from mailbot.deadlines.events import reports_isolation


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
