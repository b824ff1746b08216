"""Community's statistics fed through Kafka, as in production: membership's, booking's and
vouchers' events published on their topics as those services publish them (each one twice, as
a relay may after a crash), consumed by the running community service, and counted once each
in the month's open data."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest

from cowork.community.app import CommunitySettings
from cowork.community.app import create_app as community_app
from cowork.devtools import ManualClock
from cowork.devtools.kafka import publish
from cowork.devtools.services import bearer, eventually, running
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

APRIL_2ND = datetime(2027, 4, 2, 9, 0, tzinfo=UTC)
MARCH = datetime(2027, 3, 10, 9, tzinfo=UTC)
NOVI = "006114"
MEMBERS = 12


def wrapped(events: list[ev.DomainEvent], source: str) -> list[Envelope]:
    return [Envelope.wrap(e, source=source, time=MARCH) for e in events]


def membership_events() -> list[Envelope]:
    return wrapped([ev.MemberRegistered(
        member_id=uuid4(), kind="person", language="it", residence_istat=NOVI,
        registered_at=MARCH, age_band="25-34") for _ in range(MEMBERS)], "/cowork/membership")


def booking_events(space: Any, resource: Any) -> list[Envelope]:
    start = datetime(2027, 3, 9, 8, tzinfo=UTC)  # a Tuesday, 9:00 in Rome
    return wrapped([
        ev.ResourcePublished(resource_id=resource, space_id=space, name="Desk",
                             kind="hot_desk", seats=4, price_per_hour_cents=300),
        *(ev.BookingConfirmed(booking_id=uuid4(), member_id=uuid4(), space_id=space,
                              resource_id=resource, resource_kind="hot_desk",
                              start=start + timedelta(days=day),
                              end=start + timedelta(days=day, hours=2), price_cents=600)
          for day in range(3))], "/cowork/booking")


def vouchers_events(programme: Any) -> list[Envelope]:
    opened = ev.ProgrammeOpened(programme_id=programme, name="Voucher coworking 2027",
                                budget_cents=1_000_000, coverage_pct=50,
                                cap_per_beneficiary_cents=20_000, valid_from=date(2027, 1, 1),
                                valid_until=date(2027, 12, 31), selection_mode="first_come")
    grants = [ev.VoucherGranted(voucher_id=uuid4(), programme_id=programme, member_id=uuid4(),
                                amount_cents=20_000, valid_until=date(2027, 12, 31))
              for _ in range(6)]
    redeemed = [ev.VoucherRedeemed(voucher_id=g.voucher_id, member_id=g.member_id,
                                   source_type="booking", source_id=uuid4(), price_cents=600,
                                   subsidy_cents=300, remaining_cents=19_700) for g in grants]
    return wrapped([opened, *grants, *redeemed], "/cowork/vouchers")


async def dataset(client: httpx.AsyncClient, name: str) -> list[dict[str, str]]:
    response = await client.get(f"/v1/open-data/{name}/2027-03.csv")
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_events_on_kafka_are_counted_once_in_the_open_data(
        infra, new_database, topic_prefix) -> None:  # type: ignore[no-untyped-def]
    app = community_app(CommunitySettings(
        database_url=await new_database(), kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=topic_prefix, run_scheduler=False, outbox_poll_seconds=0.2,
        log_json=False, public_base_url="https://cowork.example.org"),
        clock=ManualClock(APRIL_2ND))
    space, resource, programme = uuid4(), uuid4(), uuid4()
    sent = {topics.MEMBERSHIP_EVENTS: membership_events(),
            topics.BOOKING_EVENTS: booking_events(space, resource),
            topics.VOUCHERS_EVENTS: vouchers_events(programme)}
    async with running(app) as client:
        for topic, envelopes in sent.items():
            # Twice: a producer's relay may send a record again after a crash.
            await publish(infra.kafka_bootstrap, topic_prefix + topic, envelopes + envelopes)
        ids = [e.id for envelopes in sent.values() for e in envelopes]
        db = app.state.runtime.db

        async def consumed() -> bool | None:
            applied = await db.fetchval("SELECT count(*) FROM inbox "
                                        "WHERE event_id = ANY($1::uuid[])", ids)
            return applied == len(ids) or None

        await eventually(consumed, timeout=60)
        built = await client.post("/v1/open-data/build?period=2027-03",
                                  headers=bearer("officer"))
        assert built.status_code == 201, built.text

        members = {(r["residence_istat"], r["age_band"]): r
                   for r in await dataset(client, "members")}
        assert members[(NOVI, "25-34")]["members"] == str(MEMBERS)
        assert members[("total", "total")]["members"] == str(MEMBERS)
        [occupancy] = [r for r in await dataset(client, "occupancy")
                       if r["space_id"] == str(space)]
        # 23 weekdays in March 2027 x 10 hours x 4 seats; three bookings of two hours
        assert (occupancy["bookings"], occupancy["booked_hours"],
                occupancy["available_hours"]) == ("3", "6.0", "920")
        [vouchers] = [r for r in await dataset(client, "vouchers")
                      if r["programme_id"] == str(programme)]
        assert (vouchers["programme"], vouchers["budget_cents"], vouchers["beneficiaries"],
                vouchers["granted_cents"], vouchers["redeemed_cents"]) == \
            ("Voucher coworking 2027", "1000000", "6", "120000", "1800")
