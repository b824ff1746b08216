"""Every service started from its image (the partner testkit's `cowork_stack`: Kafka and
PostgreSQL in their containers too, nothing of the local stack), driven as a member and the
front desk would: a member registers, buys a plan, and books a desk at booking — which only
learns of the member through Kafka. The tokens the testkit issues are the ones the services
accept, and its `wait_for` sees the events on the real topics.

Runs in `make test-containers` (needs root: a Docker engine and `make images`)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from cowork.booking.domain import public_holidays
from cowork.testkit import CoworkStack

pytestmark = [pytest.mark.containers]

ROME = ZoneInfo("Europe/Rome")
EVERY_DAY = {day: [["07:00", "22:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _eventually(call, timeout: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        response = call()
        if response.status_code == 201 or time.monotonic() > deadline:
            return response
        time.sleep(0.3)


def test_every_service_runs_from_its_image(cowork_stack: CoworkStack) -> None:
    assert {"membership", "booking"} <= set(cowork_stack.services)
    for service in cowork_stack.services:
        assert httpx.get(f"{cowork_stack.url(service)}/readyz", timeout=5).status_code == 200
        with cowork_stack.http(service, role=None) as anonymous:
            assert anonymous.get("/v1/anything-at-all").status_code in (401, 404)


def test_a_member_registers_buys_a_plan_and_books_a_desk(cowork_stack: CoworkStack) -> None:
    with cowork_stack.http("membership") as front_desk:
        plan = {"code": "monthly-e2e", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"], "max_bookings_per_day": 2}
        assert front_desk.post("/v1/plans", json=plan).status_code == 201
        registered = front_desk.post("/v1/members", json={
            "kind": "person", "full_name": "Giulia Bianchi", "email": "giulia@example.org",
            "tax_code": "BNCGLI90A41F965D", "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        member_id = registered.json()["id"]

    event = cowork_stack.wait_for("cowork.membership.member.registered.v1", key=member_id)
    assert event.headers["ce_source"] == "/cowork/membership"
    assert "Giulia" not in str(event.data)  # no personal data on the events topic

    today = datetime.now(ROME).date()
    with cowork_stack.http("membership", role="member", sub=member_id) as member:
        bought = member.post(f"/v1/members/{member_id}/memberships",
                             json={"plan_code": "monthly-e2e", "starts_on": today.isoformat()})
        assert bought.status_code == 201, bought.text
    cowork_stack.wait_for("cowork.membership.membership.activated.v1", key=member_id)

    with cowork_stack.http("booking") as staff:
        space = staff.post("/v1/spaces", json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": EVERY_DAY})
        assert space.status_code == 201, space.text
        desk = staff.post(f"/v1/spaces/{space.json()['id']}/resources", json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300})
        assert desk.status_code == 201, desk.text

    # The first day after today the space is open: it closes on Italian public holidays (the
    # test once failed on 7 December, the eve of the Immaculate Conception).
    closed = set(public_holidays(today, today + timedelta(days=10)))
    day = next(today + timedelta(days=n) for n in range(1, 10)
               if today + timedelta(days=n) not in closed)
    start = datetime.combine(day, datetime.min.time(), ROME).replace(hour=10)
    request = {"member_id": member_id, "resource_id": desk.json()["id"],
               "start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat()}
    with cowork_stack.http("booking", role="member", sub=member_id) as member:
        # Booking learns of the membership from Kafka alone: it may take a moment.
        booked = _eventually(lambda: member.post("/v1/bookings", json=request))
    assert booked.status_code == 201, booked.text
    assert booked.json()["price_cents"] == 300
    confirmed = cowork_stack.wait_for("cowork.booking.booking.confirmed.v1",
                                      key=booked.json()["id"])
    assert confirmed.data is not None and confirmed.data["member_id"] == member_id


def test_the_smtp_sink_keeps_what_it_is_sent() -> None:
    """The sink the notifications service mails to in the stack: its image, on its own."""
    import smtplib
    from email.message import EmailMessage

    from cowork.testkit.containers import SmtpSink

    sink = SmtpSink().start()
    try:
        message = EmailMessage()
        message["From"], message["To"] = "cowork@comune.example", "giulia@example.org"
        message["Subject"] = "Il tuo voucher"
        message.set_content("Ciao Giulia, il voucher è attivo.")
        with smtplib.SMTP("127.0.0.1", sink.port, timeout=10) as smtp:
            smtp.send_message(message)
        [received] = sink.messages()
        assert received["Subject"] == "Il tuo voucher"
        assert "voucher è attivo" in received.get_content()
    finally:
        sink.stop()
