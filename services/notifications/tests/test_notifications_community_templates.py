"""Community's templates render in both languages from the event and the card alone; the HTML
escapes the meeting's title; a card without a link leaves that link out rather than failing;
only web links reach a mail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest

from cowork.notifications import domain
from cowork.notifications.community import EMPTY_LINKS
from cowork.notifications.rendering import Renderer
from cowork.shared.events import contracts as ev

START = "2027-02-14T08:00:00+00:00"
EVENTS: dict[str, dict[str, Any]] = {
    "community_registration_requested": {"status": "pending_confirmation"},
    "community_registration_waitlisted": {"status": "waitlisted"},
    "community_registration_promoted": {"status": "pending_confirmation"},
    "community_registration_reminder": {"start": START},
    "community_registration_cancelled": {"cancelled_by": "meeting_cancelled"},
    "community_erasure_requested": {"request_id": "5f0c"},
}


def card(**links: str) -> dict[str, Any]:
    return {"code": "NL-7K3Q", "meeting_title": "Lavoro & <comunità>",
            "meeting_start": datetime(2027, 2, 14, 8, 0, tzinfo=UTC),
            "meeting_place": "Biblioteca Civica", "links": {**EMPTY_LINKS, **links}}


def test_every_community_template_has_a_sample() -> None:
    assert set(EVENTS) == set(domain.COMMUNITY_TEMPLATES)


@pytest.mark.parametrize("template", domain.COMMUNITY_TEMPLATES)
def test_each_community_template_renders_in_both_languages(template: str) -> None:
    renderer = Renderer()
    context = {"e": EVENTS[template], "card": card(confirm="https://x.example/c",
                                                  cancel="https://x.example/x",
                                                  erase="https://x.example/e"),
               "name": "", "place": ""}
    italian = renderer.render(template, "it", context)
    english = renderer.render(template, "en", context)
    for rendered in (italian, english):
        assert rendered.subject and "\n" not in rendered.subject
        assert "<p>" in rendered.html and "<comunità>" not in rendered.html
        assert "&lt;comunità&gt;" in rendered.html or template == "community_erasure_requested"
    assert italian.text != english.text


@pytest.mark.parametrize("template", domain.COMMUNITY_TEMPLATES)
def test_a_card_without_links_still_renders(template: str) -> None:
    rendered = Renderer().render(template, "en", {"e": EVENTS[template], "card": card(),
                                                  "name": "", "place": ""})
    assert "href" not in rendered.html


def test_only_web_links_reach_a_mail() -> None:
    assert domain.safe_links({"confirm": "https://x.example/c", "cancel": "javascript:alert(1)",
                              "erase": "http://localhost/e"}) == {
        "confirm": "https://x.example/c", "erase": "http://localhost/e"}


def test_which_community_events_are_mailed() -> None:
    at = datetime(2027, 2, 12, tzinfo=UTC)
    by = {who: ev.RegistrationCancelled(registration_id=uuid4(), meeting_id=uuid4(), at=at,
                                        cancelled_by=who)
          for who in ("registrant", "staff", "erased", "expired", "meeting_cancelled")}
    assert {who for who, event in by.items() if domain.community_template(event)} == {
        "expired", "meeting_cancelled"}
    assert ev.ErasureRequested.event_type not in domain.WEBHOOK_EVENT_TYPES
    assert ev.RegistrationRequested.event_type in domain.WEBHOOK_EVENT_TYPES
