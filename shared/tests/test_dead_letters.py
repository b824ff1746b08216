"""Dead letters: a record the consumer will not apply goes to the dead-letter topic with its
reason, holds its key — the key's later records are parked, not applied — and is released by
its replay or by an operator discarding it.

The headers are checked alone; the rest is driven in-process through
`EventConsumer.apply_records` with records as Kafka hands them over, and the operator's side
through `cowork.shared.dlq`.
"""

from __future__ import annotations

import pytest

from cowork.devtools import Infra
from cowork.devtools.kafka import collect
from cowork.shared import dlq
from cowork.shared.consumer import EventConsumer
from cowork.shared.dead_letters import dead_letter_headers
from cowork.shared.events.envelope import MalformedEvent
from cowork.shared.failures import PermanentError

from sharedkit import DLQ, applied, record
from support import TOPIC


def test_a_dead_letter_keeps_the_event_and_says_why() -> None:
    original = record("h", 1, offset=12)
    original.headers = [*original.headers, ("x-error", b"an earlier failure")]
    try:
        raise LookupError("stream h is blocked")
    except LookupError as exc:
        headers = dict(dead_letter_headers(original, exc, attempts=3,
                                           consumer_group="svc.consumer"))
    assert {k: v for k, v in headers.items() if not k.startswith("x-")} == {
        k: v for k, v in original.headers if not k.startswith("x-")}, "the event's own headers"
    assert headers["x-error"] == b"stream h is blocked", "the earlier failure is replaced"
    assert (headers["x-error-type"], headers["x-attempts"], headers["x-consumer"]) == (
        b"LookupError", b"3", b"svc.consumer")
    assert (headers["x-original-topic"], headers["x-original-partition"],
            headers["x-original-offset"]) == (TOPIC.encode(), b"0", b"12")
    assert b"LookupError" in headers["x-stacktrace"]


@pytest.mark.parametrize("error", [PermanentError("refers to nothing"),
                                   MalformedEvent("not JSON")])
def test_an_event_refused_as_such_has_no_stack_trace(error: Exception) -> None:
    headers = dict(dead_letter_headers(record("h", 1), error, attempts=1, consumer_group="g"))
    assert "x-stacktrace" not in headers
    assert headers["x-error"] == str(error).encode()


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    headers = dict(dead_letter_headers(record("h", 1), TimeoutError(), attempts=1,
                                       consumer_group="g"))
    assert headers["x-error"] == b"TimeoutError"


@pytest.mark.infra
async def test_a_dead_letter_is_published_with_its_key_and_value(
        infra: Infra, topics: str, consumer: EventConsumer) -> None:
    poison = record("p", 1, fail=True, offset=5)
    await consumer.apply_records([poison])
    [letter] = await collect(infra.kafka_bootstrap, topics + DLQ, until=lambda seen: len(seen) >= 1)
    assert letter.key == "p"
    assert letter.headers["x-error-type"] == "ValueError"
    assert letter.headers["x-original-offset"] == "5"
    assert letter.headers["x-consumer"] == f"{topics}test.order"


@pytest.mark.infra
async def test_a_dead_letter_parks_its_keys_later_records_until_replayed(
        pool, consumer: EventConsumer) -> None:
    await pool.execute("INSERT INTO blocked_streams VALUES ('r')")  # a missing prerequisite
    first = record("r", 1, offset=0)
    await consumer.apply_records([first, record("r", 2, offset=1), record("o", 1, offset=2),
                                  record("r", 3, offset=3)])
    assert await applied(pool) == [("o", 1)], "other keys go on; r waits behind its letter"
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 2
    # Later records of the held key keep being parked, even in a batch of their own.
    await consumer.apply_records([record("r", 4, offset=4)])
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 3

    await pool.execute("DELETE FROM blocked_streams")
    await consumer.apply_records([first])  # the replayed dead letter
    assert await applied(pool) == [("o", 1), ("r", 1), ("r", 2), ("r", 3), ("r", 4)]
    assert await pool.fetchval("SELECT count(*) FROM parked_records") == 0
    assert await pool.fetchval("SELECT count(*) FROM dead_lettered_keys") == 0
    await consumer.apply_records([record("r", 5, offset=5)])
    assert (await applied(pool))[-1] == ("r", 5), "the key is free again"


@pytest.mark.infra
async def test_a_discarded_dead_letter_releases_the_parked_records_without_it(
        pool, consumer: EventConsumer, service_db: str) -> None:
    await consumer.apply_records([record("d", 1, offset=0), record("d", 2, fail=True, offset=1),
                                  record("d", 3, offset=2), record("d", 4, offset=3)])
    assert await applied(pool) == [("d", 1)]
    [held] = await dlq.held_keys(service_db)
    assert (held.key, held.parked, held.error_type, held.state) == ("d", 2, "ValueError", "dead")
    assert await consumer.release_discarded() == 0, "nothing released before the operator acts"

    assert await dlq.discard(service_db, "d") == 1
    assert await consumer.release_discarded() == 1
    assert await applied(pool) == [("d", 1), ("d", 3), ("d", 4)]
    assert await dlq.held_keys(service_db) == []


@pytest.mark.infra
async def test_a_parked_record_failing_on_release_holds_the_key_again(
        pool, consumer: EventConsumer, service_db: str) -> None:
    await consumer.apply_records([record("e", 1, fail=True, offset=0), record("e", 2, offset=1),
                                  record("e", 3, fail=True, offset=2), record("e", 4, offset=3)])
    await dlq.discard(service_db, "e")
    await consumer.release_discarded()
    assert await applied(pool) == [("e", 2)]
    [held] = await dlq.held_keys(service_db)
    assert (held.parked, held.state) == (1, "dead"), "e:4 waits behind e:3 now"
