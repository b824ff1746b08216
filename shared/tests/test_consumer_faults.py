"""The idempotent consumer on real Kafka and PostgreSQL, with processes killed mid-stream."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from cowork.devtools import Infra
from cowork.devtools.kafka import publish
from cowork.shared.dlq import replay
from cowork.shared.events import Envelope
from cowork.shared.kafka import reliable_producer

from sharedkit import DLQ, fetchval, wait_until
from support import SOURCE, TOPIC, Sequenced

pytestmark = [pytest.mark.infra]


def _events(stream: str, n: int, *, start: int = 0) -> list[Envelope]:
    return [Envelope.wrap(Sequenced(stream=stream, seq=i), source=SOURCE)
            for i in range(start, start + n)]


async def _applied(dsn: str) -> int:
    return int(await fetchval(dsn, "SELECT count(*) FROM applied"))  # type: ignore[arg-type]


async def test_same_event_delivered_twice_changes_state_once(infra, service_db, topics, procs):
    first, second = _events("a", 2)
    # The broker delivers `first` three times (a producer retry, a relay re-run, a replay).
    await publish(infra.kafka_bootstrap, topics + TOPIC, [first, first, second, first])
    procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()

    async def both_applied() -> bool:
        return await fetchval(service_db, "SELECT count(DISTINCT event_id) FROM applied") == 2

    await wait_until(both_applied, 60, "both events to be applied")
    await asyncio.sleep(1)  # let any late duplicate arrive
    assert await _applied(service_db) == 2
    assert await fetchval(service_db, "SELECT count(*) FROM applied WHERE event_id = $1",
                          first.id) == 1


async def test_killed_after_db_commit_before_offset_commit_applies_once(
        infra, service_db, topics, procs):
    events = _events("k", 50)
    await publish(infra.kafka_bootstrap, topics + TOPIC, events)
    crashing = procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics])
    crashing.start("--crash-after-commit")
    crashing.popen.wait(60)  # type: ignore[union-attr]
    assert crashing.popen.returncode == -9  # type: ignore[union-attr]  # it SIGKILLed itself

    applied_before_restart = await _applied(service_db)
    assert applied_before_restart > 0, "the first batch's transaction committed"
    assert await _committed(infra.kafka_bootstrap, f"{topics}test.sequenced") == 0, \
        "it died before committing any offset"

    procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()

    async def all_applied() -> bool:
        return await _applied(service_db) >= len(events)

    await wait_until(all_applied, 60, "all events after the restart")
    await asyncio.sleep(1)
    assert await _applied(service_db) == len(events)
    assert await fetchval(service_db, "SELECT count(DISTINCT event_id) FROM applied") == len(events)
    assert await _committed(infra.kafka_bootstrap, f"{topics}test.sequenced") == len(events)


async def _committed(bootstrap: str, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(max(meta.offset, 0) for meta in offsets.values())


async def test_poison_records_go_to_the_dlq_and_the_consumer_moves_on(
        infra: Infra, service_db, topics, procs):
    good_before, good_after, with_binary_header = _events("p", 3)
    # Each poison record has a key of its own: a dead letter holds its key's later records
    # (test_dead_letter_order.py), the consumer moves on with the other keys.
    failing = Envelope.wrap(Sequenced(stream="f", seq=99, fail=True), source=SOURCE)
    producer = reliable_producer(infra.kafka_bootstrap, client_id="test-poison")
    await producer.start()
    try:
        topic = topics + TOPIC
        await producer.send_and_wait(topic, key=b"p", value=good_before.value(),
                                     headers=good_before.kafka_headers())
        # Not JSON at all: can never be parsed, straight to the DLQ.
        await producer.send_and_wait(topic, key=b"m1", value=b"\x00not json",
                                     headers=_events("p", 1)[0].kafka_headers())
        # A valid event whose handler always fails: retried, then dead-lettered.
        await producer.send_and_wait(topic, key=b"f", value=failing.value(),
                                     headers=failing.kafka_headers())
        # Missing CloudEvents headers.
        await producer.send_and_wait(topic, key=b"m2", value=b"{}", headers=[])
        await producer.send_and_wait(topic, key=b"p", value=good_after.value(),
                                     headers=good_after.kafka_headers())
        # A partner's binary header beside valid CloudEvents ones: the event is still applied.
        await producer.send_and_wait(topic, key=b"p", value=with_binary_header.value(),
                                     headers=[*with_binary_header.kafka_headers(),
                                              ("x-partner-blob", b"\xff\xfe\x00")])
    finally:
        await producer.stop()
    procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()

    dead = await _collect_raw(infra.kafka_bootstrap, topics + DLQ, 3)
    by_type = {h["x-error-type"]: h for h in dead}
    assert set(by_type) == {"MalformedEvent", "ValueError"}
    assert len([h for h in dead if h["x-error-type"] == "MalformedEvent"]) == 2
    handler_failure = by_type["ValueError"]
    assert handler_failure["x-attempts"] == "3"
    assert "poison by design" in handler_failure["x-error"]
    assert handler_failure["x-original-topic"] == topics + TOPIC
    assert handler_failure["ce_id"] == str(failing.id)  # original headers are kept
    for h in dead:
        assert {"x-error", "x-failed-at", "x-original-partition", "x-original-offset"} <= set(h)

    async def goods_applied() -> bool:
        return await _applied(service_db) == 3

    await wait_until(goods_applied, 30, "the good events around the poison")
    assert await fetchval(service_db, "SELECT array_agg(seq ORDER BY id) FROM applied") == [0, 1, 2]


async def test_dead_letter_replayed_after_its_cause_is_fixed(infra, service_db, topics, procs):
    await fetchval(service_db, "INSERT INTO blocked_streams VALUES ('r') RETURNING 1")
    event = _events("r", 1)[0]
    await publish(infra.kafka_bootstrap, topics + TOPIC, [event])
    procs("consumer_proc.py", [service_db, infra.kafka_bootstrap, topics]).start()
    await _collect_raw(infra.kafka_bootstrap, topics + DLQ, 1)
    assert await _applied(service_db) == 0

    await fetchval(service_db, "DELETE FROM blocked_streams RETURNING 1")
    replayed = await replay(infra.kafka_bootstrap, topics + DLQ, group_id=topics + "replayer")
    assert [r.error for r in replayed] == ["stream r is blocked"]

    async def applied() -> bool:
        return await _applied(service_db) == 1

    await wait_until(applied, 30, "the replayed event to be applied")
    assert await fetchval(service_db, "SELECT event_id FROM applied") == event.id


async def _collect_raw(bootstrap: str, topic: str, n: int) -> list[dict[str, str]]:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    await consumer.start()
    out: list[dict[str, str]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(out) < n and loop.time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out += [{k: v.decode(errors="replace") for k, v in r.headers} for r in records]
    finally:
        await consumer.stop()
    assert len(out) >= n, f"expected {n} dead letters on {topic}, got {len(out)}"
    return out
