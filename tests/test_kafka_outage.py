"""Kafka away is not an API outage: the membership service on a broker of the test's own.

What a front desk relies on: while Kafka is down the API keeps answering and taking writes
(the outbox holds their events), the pod stays ready (readiness is the database), Kafka's own
probe and gauges say what is wrong; when Kafka is back every event reaches it exactly once and
in each member's order, and the backlog drains. A service started while Kafka is down becomes
ready at once and publishes as soon as Kafka appears.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY
from stdnum import luhn

from cowork.devstack import stack
from cowork.devtools import ManualClock
from cowork.membership.app import MembershipSettings, create_app
from cowork.shared.auth import issue_token
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra, pytest.mark.slow]

MEMBERS = 250  # each registered and then updated: 500 writes through the API
OUTAGE_SECONDS = 60


def organisation(i: int) -> dict[str, Any]:
    number = f"{i + 1:07d}001"
    return {"kind": "organisation", "full_name": f"Cooperativa {i}",
            "email": f"coop{i}@example.org", "tax_code": number + luhn.calc_check_digit(number),
            "consents": {"privacy": True}}


def gauge(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "membership"}) or 0.0


async def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


@pytest.fixture
async def membership(private_kafka: stack.StackConfig, database_url: str, topic_prefix: str
                     ) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The service started while its Kafka is DOWN."""
    await asyncio.to_thread(stack.stop_kafka, private_kafka, hard=True)
    settings = MembershipSettings(database_url=database_url,
                                  kafka_bootstrap=private_kafka.kafka_bootstrap,
                                  topic_prefix=topic_prefix, run_scheduler=False,
                                  outbox_poll_seconds=0.2, kafka_watch_seconds=0.5,
                                  log_json=False,
                                  # 250 sign-ups from one test client: not what is measured here
                                  registration_limit_per_client=10 * MEMBERS)
    app = create_app(settings, clock=ManualClock(datetime(2027, 1, 31, 9, 0, tzinfo=UTC)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://membership") as client:
            yield client, app.state.runtime


async def read_all(bootstrap: str, names: list[str], at_least: int) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(n, p) for n in names
                      for p in consumer.partitions_for_topic(n) or ()]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(n, p) for n in names
                          for p in consumer.partitions_for_topic(n) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        deadline = time.monotonic() + 120
        quiet_until = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got = [r for rs in batch.values() for r in rs]
            records += got
            if len(records) >= at_least:
                # Read on a little: a duplicate sent late must show up too.
                quiet_until = quiet_until or time.monotonic() + 2
                if time.monotonic() > quiet_until:
                    break
        return records
    finally:
        await consumer.stop()


async def test_kafka_away_for_a_minute_is_not_an_api_outage(
        membership: tuple[httpx.AsyncClient, Any], private_kafka: stack.StackConfig,
        topic_prefix: str) -> None:
    client, runtime = membership
    bootstrap = private_kafka.kafka_bootstrap
    names = [topic_prefix + topics.MEMBERSHIP_EVENTS, topic_prefix + topics.MEMBERSHIP_CONTACTS]

    # 1. Started with Kafka down: ready, takes a write, Kafka's own probe says it is away.
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/healthz/kafka")).status_code == 503
    first = await client.post("/v1/members", json=organisation(0))
    assert first.status_code == 201

    async def backlog_is(n: int) -> bool:
        return gauge("cowork_outbox_backlog") == n

    await wait_for(lambda: backlog_is(2), 10, "the backlog gauge to count the first member")
    await asyncio.to_thread(stack.start_kafka, private_kafka)
    await asyncio.to_thread(stack.wait_for_kafka, private_kafka)
    await wait_for(lambda: backlog_is(0), 120, "the first events to be published")
    assert gauge("cowork_kafka_up") == 1
    assert (await client.get("/healthz/kafka")).status_code == 200

    # 2. Kafka stopped under the running service, for a minute, while the API takes writes.
    await asyncio.to_thread(stack.stop_kafka, private_kafka, hard=True)
    stopped = time.monotonic()
    member_ids = [first.json()["id"]]
    for i in range(1, MEMBERS):
        response = await client.post("/v1/members", json=organisation(i))
        assert response.status_code == 201, response.text
        member_ids.append(response.json()["id"])
    for member_id in member_ids:
        token = issue_token(LOCAL_DEV_JWT_SECRET, sub=member_id, roles=["member"])
        response = await client.patch(f"/v1/members/{member_id}", json={"language": "en"},
                                      headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
    assert (await client.get("/readyz")).status_code == 200
    await wait_for(lambda: backlog_is(4 * MEMBERS - 2), 10, "the backlog gauge to rise")
    assert gauge("cowork_kafka_up") == 0
    assert (await client.get("/healthz/kafka")).status_code == 503
    while time.monotonic() - stopped < OUTAGE_SECONDS:
        assert (await client.get("/readyz")).status_code == 200
        await asyncio.sleep(2)
    assert gauge("cowork_outbox_oldest_pending_seconds") >= OUTAGE_SECONDS - 15

    # 3. Kafka back: the backlog drains; every event is on Kafka once, in each member's order.
    await asyncio.to_thread(stack.start_kafka, private_kafka)
    await asyncio.to_thread(stack.wait_for_kafka, private_kafka)
    await wait_for(lambda: backlog_is(0), 180, "the backlog to drain")
    outbox = {str(r["id"]) for r in await runtime.db.fetch("SELECT id FROM outbox")}
    assert len(outbox) == 4 * MEMBERS
    records = await read_all(bootstrap, names, len(outbox))
    ids = [dict(r.headers)["ce_id"].decode() for r in records]
    assert len(ids) == len(set(ids)), "an event reached Kafka twice"
    assert set(ids) == outbox, "an event never reached Kafka"
    order: dict[str, list[str]] = defaultdict(list)
    for record in records:
        if record.topic == names[0]:
            order[record.key.decode()].append(dict(record.headers)["ce_type"].decode())
    assert all(types == [ev.MemberRegistered.event_type, ev.MemberUpdated.event_type]
               for types in order.values()), "a member's events arrived out of order"
    assert len(order) == MEMBERS
