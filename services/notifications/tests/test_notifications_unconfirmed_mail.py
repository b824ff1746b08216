"""Mails an anonymous caller can trigger quote nothing anyone typed (issue 20, point 6;
attack-identity). The repeated-registration notice goes to the address of the member the
attempt collided with; that member may itself have been registered anonymously by a stranger
(nobody confirms an address), with a "name" that is a spammer's line. A second anonymous
registration with the same address then mailed that line to the address's owner."""

from __future__ import annotations

import pytest

from cowork.notifications.rendering import Renderer


@pytest.mark.parametrize("language", ["it", "en"])
def test_the_repeated_registration_notice_quotes_no_typed_name(language: str) -> None:
    typed = "Cheap pills at pills.example"
    rendered = Renderer().render("member_registration_repeated", language, {
        "e": {"member_id": "5f0c", "at": "2027-01-31T09:00:00Z", "matched": ["email"]},
        "name": typed, "place": ""})
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "pills" not in part
