"""On real Kafka, as partners see it: booking events published by a producer become exactly
one redemption (however often delivered) and a reversal, on cowork.vouchers.events."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import pytest
from vouchers_support import OFFICER, Vouchers

from cowork.devtools.kafka import collect, of_type, publish
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]
LIVE = pytest.mark.parametrize("svc", [True], indirect=True, ids=["consumers"])


async def _until(svc: Vouchers, query: str, expected: object, *args: object) -> None:
    for _ in range(300):
        if await svc.runtime.db.fetchval(query, *args) == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{query} never gave {expected}")


@LIVE
async def test_a_duplicated_booking_event_redeems_once_and_its_cancellation_reverses(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    booking_topic = svc.topic_prefix + topics.BOOKING_EVENTS
    space_id = UUID(int=7)
    desks = [Envelope.wrap(ev.ResourcePublished(
        resource_id=UUID(int=100 + n), space_id=space_id, name=f"Desk {n}", kind="hot_desk",
        seats=1, price_per_hour_cents=300), source="/cowork/booking") for n in range(10)]
    await publish(svc.bootstrap, booking_topic, desks)
    await _until(svc, "SELECT count(*) FROM space_resources WHERE space_id = $1", 10, space_id)
    await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(space_id), "from": "2027-01-01", "reason": "listed"},
        headers=OFFICER)

    confirmed = Envelope.wrap(svc.booking(member_id, space_id, charged_cents=3_000),
                              source="/cowork/booking")
    await publish(svc.bootstrap, booking_topic, [confirmed, confirmed])
    await publish(svc.bootstrap, booking_topic, [confirmed])
    await _until(svc, "SELECT count(*) FROM redemptions", 1)
    booking_id = confirmed.data.booking_id  # type: ignore[union-attr]
    cancelled = Envelope.wrap(ev.BookingCancelled(
        booking_id=booking_id, member_id=member_id, cancelled_by="member", late=False,
        charged_cents=0, cancelled_at=datetime(2027, 3, 1, 12, tzinfo=UTC)),
        source="/cowork/booking")
    await publish(svc.bootstrap, booking_topic, [cancelled, cancelled])
    await _until(svc, "SELECT reversed_cents FROM redemptions", 1_500)

    vouchers_topic = svc.topic_prefix + topics.VOUCHERS_EVENTS
    records = await collect(svc.bootstrap, vouchers_topic, until=lambda seen: bool(
        of_type(seen, ev.VoucherRedemptionReversed.event_type)))
    await asyncio.sleep(1)  # anything published twice would be there by now
    records = await collect(svc.bootstrap, vouchers_topic, until=lambda seen: len(seen) >= len(
        records))
    [redeemed] = of_type(records, ev.VoucherRedeemed.event_type)
    [reversed_] = of_type(records, ev.VoucherRedemptionReversed.event_type)
    assert redeemed.key == voucher_id
    assert redeemed.envelope.data.subsidy_cents == 1_500  # type: ignore[union-attr]
    assert reversed_.envelope.data.reversed_cents == 1_500  # type: ignore[union-attr]
    assert reversed_.envelope.data.remaining_cents == 150_000  # type: ignore[union-attr]
    await svc.ledger_is_balanced(programme["id"])
