"""Every template renders in both languages, with subject, plain text and HTML; the HTML part
escapes what it shows; the .ics of a confirmation is removed by the one of its cancellation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from icalendar import Calendar

from cowork.notifications import domain, mail
from cowork.notifications.rendering import Renderer

START = "2027-03-02T08:00:00+00:00"  # 09:00 in Rome
END = "2027-03-02T10:30:00+00:00"
SAMPLES: dict[str, dict[str, Any]] = {
    "member_registered": {"member_id": "5f0c", "kind": "person", "language": "it",
                          "residence_istat": "006114", "registered_at": "2027-01-31T09:00:00Z"},
    "member_registration_repeated": {"member_id": "5f0c", "at": "2027-01-31T09:00:00Z",
                                     "matched": ["tax_code"]},
    "membership_activated": {"plan_code": "monthly", "period_start": "2027-03-01",
                             "period_end": "2027-03-31", "price_cents": 15000},
    "membership_expiring": {"period_end": "2027-03-31", "days_left": 7},
    "membership_expired": {"at": "2027-04-01T00:00:00+00:00"},
    "membership_suspended": {"reason": "non_payment"},
    "booking_confirmed": {"start": START, "end": END, "price_cents": 750, "charged_cents": 750},
    "booking_cancelled": {"start": START, "end": END, "cancelled_by": "member", "late": True,
                          "charged_cents": 750},
    "booking_reminder": {"start": START, "end": END, "hours_before": 24},
    "booking_no_show": {"start": START, "end": END},
    "application_rejected": {"reasons": ["residence outside the town", "income above cap"]},
    "voucher_granted": {"amount_cents": 25000, "valid_until": "2027-06-30"},
    "voucher_redeemed": {"source_type": "booking", "price_cents": 750, "subsidy_cents": 600,
                         "remaining_cents": 24400},
    "voucher_expiring": {"valid_until": "2027-06-30", "remaining_cents": 1200},
    "voucher_revoked": {"released_cents": 5000, "reason": None},
    "budget_threshold": {"programme_id": "0b6a", "threshold_pct": 100, "available_cents": 0},
    "statement_issued": {"programme_id": "0b6a", "period": "2027-03", "redeemed_cents": 90000,
                         "reversed_cents": 1500, "net_cents": 88500, "lines": 42,
                         "sha256": "a" * 64},
}


def test_every_template_has_a_sample() -> None:
    assert set(SAMPLES) == set(domain.TEMPLATES)


@pytest.mark.parametrize("template", domain.TEMPLATES)
def test_each_template_renders_in_both_languages(template: str) -> None:
    renderer = Renderer()
    context = {"e": SAMPLES[template], "name": "Giulia", "place": "Sala Marconi"}
    italian = renderer.render(template, "it", context)
    english = renderer.render(template, "en", context)
    for rendered in (italian, english):
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.text.strip() and "<p>" not in rendered.text
        assert "<p>" in rendered.html and rendered.html.startswith("<!doctype html>")
    assert italian.subject != english.subject
    assert italian.text != english.text


@pytest.mark.parametrize(("matched", "english", "italian"), [
    (["tax_code"], "with your tax code.", "con il tuo codice fiscale."),
    (["email"], "with your e-mail address.", "con il tuo indirizzo e-mail."),
    (["tax_code", "email"], "with your tax code and e-mail address.",
     "con il tuo codice fiscale e il tuo indirizzo e-mail."),
    (None, "with your tax code or e-mail address.",
     "con il tuo codice fiscale o il tuo indirizzo e-mail."),
])
def test_the_repeated_registration_notice_says_which_detail_was_used(
        matched: list[str] | None, english: str, italian: str) -> None:
    event = {"member_id": "5f0c", "at": "2027-01-31T09:00:00Z", "matched": matched}
    renderer = Renderer()
    en = renderer.render("member_registration_repeated", "en", {"e": event, "name": "Giulia",
                                                                "place": ""})
    it = renderer.render("member_registration_repeated", "it", {"e": event, "name": "Giulia",
                                                                "place": ""})
    assert english in en.text and italian in it.text
    assert "Sunday 31 January 2027, 10:00" in en.text  # when, in the space's timezone
    assert "If it was you" in en.text and "If it was not you" in en.text
    assert "Se eri tu" in it.text and "Se non eri tu" in it.text
    without_field = renderer.render("member_registration_repeated", "en", {
        "e": {"member_id": "5f0c", "at": "2027-01-31T09:00:00Z"}, "name": "G", "place": ""})
    assert "with your tax code or e-mail address." in without_field.text


def test_booking_times_are_shown_in_the_spaces_timezone() -> None:
    rendered = Renderer().render("booking_confirmed", "en",
                                 {"e": SAMPLES["booking_confirmed"], "name": "G", "place": "P"})
    assert "Tuesday 2 March 2027, 09:00 to 11:30" in rendered.text
    assert "To pay: €7.50" in rendered.text


def test_html_escapes_and_text_does_not() -> None:
    rendered = Renderer().render("membership_suspended", "it", {
        "e": {"reason": "<script>alert(1)</script> & co"}, "name": "Bob <b@x>", "place": ""})
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html and "&amp; co" in rendered.html
    assert "<script>alert(1)</script> & co" in rendered.text


def test_an_operator_template_overrides_the_built_in_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "voucher_granted.j2").write_text(
        "{% block subject %}Good news, {{ name }}{% endblock %}"
        "{% block text %}{{ money(e.amount_cents) }}{% endblock %}"
        "{% block html %}<p>{{ money(e.amount_cents) }}</p>{% endblock %}")
    renderer = Renderer(tmp_path)
    custom = renderer.render("voucher_granted", "en", {"e": SAMPLES["voucher_granted"],
                                                        "name": "Ann", "place": ""})
    assert custom.subject == "Good news, Ann" and custom.text.strip() == "€250.00"
    built_in = renderer.render("voucher_granted", "it", {"e": SAMPLES["voucher_granted"],
                                                         "name": "Ann", "place": ""})
    assert built_in.subject.startswith("Ti è stato assegnato")


def test_the_cancellation_ics_removes_the_confirmation_event() -> None:
    def ics(cancel: bool) -> Calendar:
        data = mail.booking_calendar(
            booking_id="b-1", start=datetime.fromisoformat(START), end=datetime.fromisoformat(END),
            summary="Sala Marconi", location="Via Marconi 36", timezone="Europe/Rome",
            cancel=cancel, stamp=datetime(2027, 3, 1, tzinfo=UTC))
        return Calendar.from_ical(data)

    confirmed, cancelled = ics(False), ics(True)
    [added] = confirmed.walk("VEVENT")
    [removed] = cancelled.walk("VEVENT")
    assert confirmed["METHOD"] == "PUBLISH" and cancelled["METHOD"] == "CANCEL"
    assert added["UID"] == removed["UID"] == "b-1@cowork"
    assert removed["STATUS"] == "CANCELLED" and removed["SEQUENCE"] > added["SEQUENCE"]
    start = added.decoded("DTSTART")
    assert str(start.tzinfo) == "Europe/Rome" and start.hour == 9
    assert confirmed.walk("VTIMEZONE"), "the zone travels with the event"


@pytest.mark.parametrize("language", ["it", "en"])
def test_the_welcome_mail_quotes_nothing_the_registrant_typed(language: str) -> None:
    """Anyone may register with anyone's address (issue 20, point 6): the welcome mail goes to
    an address nobody has confirmed, so it must not carry the registrant's words (the name
    they typed would be the first line of a spam anyone could send from the town's server)."""
    typed = "Cheap pills at pills.example"
    rendered = Renderer().render("member_registered", language,
                                 {"e": SAMPLES["member_registered"], "name": typed, "place": ""})
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "pills" not in part
