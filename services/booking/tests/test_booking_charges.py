"""What a member actually pays for a booking (issue 8): 0 for use the plan includes, the tariff
for overage and pay-per-use, refused where the plan refuses; carried on booking.confirmed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from booking_support import ROOM, Booking, rome

from cowork.booking import handlers
from cowork.devtools.kafka import collect, of_type
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def _registered(svc: Booking) -> uuid.UUID:
    """A member membership has told booking about, holding no plan."""
    member_id = uuid.uuid4()
    event = ev.MemberRegistered(member_id=member_id, kind="person", language="it",
                                residence_istat="006114",
                                registered_at=datetime(2027, 2, 1, tzinfo=UTC))
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        await handlers.on_registered(conn, Envelope.wrap(event, source="/cowork/membership"))
    return member_id


async def test_included_use_is_charged_nothing_and_overage_the_minutes_beyond(svc: Booking
                                                                              ) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    room = await svc.resource(space["id"], **ROOM, price_per_day_cents=None)
    member = await svc.member_with(meeting_room_minutes_per_month=120,
                                   overage={"meeting_room": "charge"})
    included = await svc.book(member, desk["id"], rome(2, 9), rome(2, 13))
    assert included.status_code == 201, included.text
    assert included.json()["price_cents"] == 1200 and included.json()["charged_cents"] == 0
    within = (await svc.book(member, room["id"], rome(2, 14), rome(2, 15))).json()
    assert within["charged_cents"] == 0  # 60 of 120 minutes
    beyond = (await svc.book(member, room["id"], rome(3, 9), rome(3, 11))).json()
    assert beyond["price_cents"] == 5000
    assert beyond["charged_cents"] == 2500, "the 60 minutes beyond the allowance, at the tariff"
    read = await svc.client.get(f"/v1/bookings/{beyond['id']}", headers=svc.member(member))
    assert read.json()["charged_cents"] == 2500


async def test_refuse_policy_answers_403_as_before(svc: Booking) -> None:
    space = await svc.space()
    room = await svc.resource(space["id"], **ROOM)
    member = await svc.member_with(meeting_room_minutes_per_month=60,
                                   overage={"meeting_room": "refuse"})
    assert (await svc.book(member, room["id"], rome(2, 9), rome(2, 10))).status_code == 201
    refused = await svc.book(member, room["id"], rome(3, 9), rome(3, 10))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "meeting_room_allowance"


async def test_pay_per_use_where_the_resource_allows_it(svc: Booking) -> None:
    space = await svc.space()
    booth = await svc.resource(space["id"], name="Booth", kind="phone_booth",
                               price_per_hour_cents=200, price_per_day_cents=None,
                               min_minutes=30, pay_per_use=True)
    members_only = await svc.resource(space["id"], name="Desk", kind="phone_booth",
                                      price_per_hour_cents=200, min_minutes=30)
    assert booth["pay_per_use"] is True and members_only["pay_per_use"] is False
    walk_in = await _registered(svc)
    paid = await svc.book(walk_in, booth["id"], rome(2, 9), rome(2, 10, 30))
    assert paid.status_code == 201, paid.text
    assert paid.json()["charged_cents"] == paid.json()["price_cents"] == 300
    refused = await svc.book(walk_in, members_only["id"], rome(2, 9), rome(2, 10))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "no_membership"
    # A desk-plan member pays per use for the booth their plan does not cover.
    desk_member = await svc.member_with(resource_kinds=["hot_desk"])
    other = await svc.book(desk_member, booth["id"], rome(3, 9), rome(3, 10))
    assert other.status_code == 201 and other.json()["charged_cents"] == 200
    stranger = await svc.book(uuid.uuid4(), booth["id"], rome(4, 9), rome(4, 10),
                              headers=svc.staff())
    assert stranger.status_code == 403, "an id membership never told us of books nothing"


async def test_booking_confirmed_on_kafka_carries_the_charge(svc: Booking) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    included = await svc.member_with()
    at_tariff = await svc.member_with(included_kinds=["meeting_room"])
    free = (await svc.book(included, desk["id"], rome(2, 9), rome(2, 11))).json()
    paid = (await svc.book(at_tariff, desk["id"], rome(2, 11), rome(2, 13))).json()
    records = await collect(
        svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS, timeout=30,
        until=lambda rs: len(of_type(rs, ev.BookingConfirmed.event_type)) >= 2)
    confirmed = {r.key: r.envelope.data for r in of_type(records, ev.BookingConfirmed.event_type)}
    assert (confirmed[free["id"]].price_cents, confirmed[free["id"]].charged_cents) == (600, 0)
    assert (confirmed[paid["id"]].price_cents, confirmed[paid["id"]].charged_cents) == (600, 600)
