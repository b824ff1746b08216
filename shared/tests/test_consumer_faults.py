"""The idempotent consumer on real Kafka and PostgreSQL, with processes killed mid-stream."""

from __future__ import annotations

import pytest
from sharedkit import DLQ, fetchval, wait_until, write_events
from support import SOURCE, TOPIC, Sequenced

from cowork.shared.events import Envelope
from cowork.shared.kafka import reliable_producer
from cowork.shared.testing import Infra

pytestmark = [pytest.mark.infra]


async def _publish(bootstrap: str, topic: str, envelopes: list[Envelope]) -> None:
    producer = reliable_producer(bootstrap, client_id="test-publisher")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(topic, value=env.value(), key=env.subject.encode(),
                                         headers=env.kafka_headers())
    finally:
        await producer.stop()


async def test_same_event_delivered_twice_changes_state_once(infra, service_db, topics, procs):
    first = Envelope.wrap(Sequenced(stream="a", seq=1), source=SOURCE)
    second = Envelope.wrap(Sequenced(stream="a", seq=2), source=SOURCE)
    # The broker delivers `first` three times (a producer retry, a relay re-run, a replay).
    await _publish(infra.kafka_bootstrap, topics + TOPIC, [first, first, second, first])
    procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()

    async def both_applied() -> bool:
        return await fetchval(service_db, "SELECT count(DISTINCT event_id) FROM applied") == 2

    await wait_until(both_applied, 60, "both events to be applied")
    assert await fetchval(service_db, "SELECT count(*) FROM applied") == 2
    assert await fetchval(service_db, "SELECT count(*) FROM applied WHERE event_id = $1",
                          first.id) == 1

