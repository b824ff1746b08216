"""Across services, only through Kafka: a member registers and buys a plan at membership, and
booking learns from the events alone who may book what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools.services import bearer, eventually, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome


STAFF = bearer("staff", "front-desk")


async def test_a_member_books_after_buying_a_plan_and_not_after_suspension(
        infra, new_database, topic_prefix) -> None:
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False}
    membership = membership_app(MembershipSettings(database_url=await new_database(), **common),
                                clock=lambda: NOW)
    booking = booking_app(BookingSettings(database_url=await new_database(), **common),
                          clock=lambda: NOW)
    async with running(membership) as people, running(booking) as desks:
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"], "max_bookings_per_day": 1}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        member = (await people.post("/v1/members", json={
            "kind": "person", "full_name": "Giulia Bianchi", "email": "giulia@example.org",
            "tax_code": "BNCGLI90A41F965D", "consents": {"privacy": True}})).json()
        me = bearer("member", member["id"])
        membership_id = (await people.post(f"/v1/members/{member['id']}/memberships",
                                           json={"plan_code": "monthly",
                                                 "starts_on": "2027-03-01"},
                                           headers=me)).json()["id"]

        space = (await desks.post("/v1/spaces", json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": {"mon": [["08:00", "19:00"]], "tue": [["08:00", "19:00"]]}},
            headers=STAFF)).json()
        desk = (await desks.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300},
            headers=STAFF)).json()

        def booking_request(hour: int) -> dict[str, str]:
            return {"member_id": member["id"], "resource_id": desk["id"],
                    "start": f"2027-03-02T{hour:02d}:00:00+01:00",
                    "end": f"2027-03-02T{hour + 1:02d}:00:00+01:00"}

        async def booked():  # type: ignore[no-untyped-def]
            response = await desks.post("/v1/bookings", json=booking_request(9), headers=me)
            return response if response.status_code == 201 else None

        first = await eventually(booked)
        assert first.json()["price_cents"] == 300
        # The plan's fair-use limit travelled with the activation event.
        second = await desks.post("/v1/bookings", json=booking_request(11), headers=me)
        assert second.status_code == 403
        assert second.json()["error"]["code"] == "fair_use_daily"

        suspended = await people.post(f"/v1/memberships/{membership_id}/suspend",
                                      json={"reason": "conduct"}, headers=STAFF)
        assert suspended.status_code == 200

        async def refused_for_suspension():  # type: ignore[no-untyped-def]
            request = {**booking_request(9), "start": "2027-03-01T15:00:00+01:00",
                       "end": "2027-03-01T16:00:00+01:00"}
            response = await desks.post("/v1/bookings", json=request, headers=me)
            code = response.json().get("error", {}).get("code")
            return response if code == "membership_not_active" else None

        await eventually(refused_for_suspension)
