"""Desk rewards against Cowork itself: the `cowork_stack` fixture of cowork-testkit starts Cowork
in containers; the partner's consumer reads its real events."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cowork.testkit import CoworkStack

from desk_rewards.consumer import Rewards, consume


@pytest.fixture
def rewards(tmp_path: Path) -> Rewards:
    return Rewards(tmp_path / "rewards.sqlite")


@pytest.fixture
def consuming(cowork_stack: CoworkStack, rewards: Rewards,
              request: pytest.FixtureRequest) -> Iterator[Callable[[Callable[[], bool]], None]]:
    """Runs the consumer (its own consumer group per test) until a condition holds."""

    def until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
        async def run() -> None:
            stop = asyncio.Event()
            task = asyncio.create_task(consume(cowork_stack.kafka_bootstrap, rewards,
                                               group=f"desk-rewards-{request.node.name}",
                                               stop=stop))
            deadline = time.monotonic() + timeout
            # The condition is the partner database's state: polled, there is no event to await.
            while not condition() and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            stop.set()
            await task
        asyncio.run(run())
        assert condition(), "the consumer never got there"

    yield until


def _register(stack: CoworkStack, name: str, tax_code: str) -> str:
    with stack.http("membership", role="staff") as front_desk:
        response = front_desk.post("/v1/members", json={
            "kind": "person", "full_name": name, "email": f"{tax_code.lower()}@example.org",
            "tax_code": tax_code, "consents": {"privacy": True}})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def test_a_new_member_gets_one_welcome_coffee_even_if_the_event_comes_twice(
        cowork_stack: CoworkStack, rewards: Rewards, consuming) -> None:  # type: ignore[no-untyped-def]
    member_id = _register(cowork_stack, "Marco Rossi", "RSSMRC80A01F965V")
    consuming(lambda: member_id in rewards.welcome_coffees())

    # The same event again (same ce_id), as a redelivery or a replayed dead letter brings it.
    event = cowork_stack.wait_for("cowork.membership.member.registered.v1", key=member_id)
    cowork_stack.publish(event.type, member_id, event.data or {}, event_id=event.id)
    # A later registration: once the consumer has it, it has read past the duplicate (the
    # testkit's topics have one partition, so their order is total).
    later = _register(cowork_stack, "Anna Verdi", "VRDNNA85C41F965P")
    consuming(lambda: later in rewards.welcome_coffees())
    assert rewards.welcome_coffees().count(member_id) == 1
    assert rewards.db.execute("SELECT count(*) FROM processed_events WHERE event_id = ?",
                              (event.id,)).fetchone()[0] == 1


def test_hours_booked_become_stamps(cowork_stack: CoworkStack, rewards: Rewards,
                                    consuming) -> None:  # type: ignore[no-untyped-def]
    rome = ZoneInfo("Europe/Rome")
    tomorrow = datetime.now(rome).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, datetime.min.time(), rome).replace(hour=9)
    member_id, booking_id = str(uuid.uuid4()), str(uuid.uuid4())
    # A test event published as Cowork's booking service would publish it (a complete,
    # valid booking.confirmed.v1): no need to set up spaces and plans for this test.
    cowork_stack.publish("cowork.booking.booking.confirmed.v1", booking_id, {
        "booking_id": booking_id, "member_id": member_id, "space_id": str(uuid.uuid4()),
        "resource_id": str(uuid.uuid4()), "resource_kind": "hot_desk",
        "start": start.isoformat(), "end": (start + timedelta(hours=2)).isoformat(),
        "price_cents": 600, "charged_cents": 0})
    consuming(lambda: rewards.hours(member_id) == 2.0)


def test_an_unknown_event_type_is_skipped(rewards: Rewards) -> None:
    assert rewards.apply({"ce_id": "x", "ce_type": "cowork.booking.something_new.v1"}, {}) is False
    assert rewards.db.execute("SELECT count(*) FROM processed_events").fetchone()[0] == 0
