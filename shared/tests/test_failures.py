"""What a consumer's failure means: which errors are the world away (retried without limit) and
which are the event's or the code's (bounded, then a dead letter), and the back-off between
attempts. What the consumer does with each: test_consumer_errors.py."""

from __future__ import annotations

import asyncpg
from aiokafka.errors import KafkaConnectionError

from cowork.shared.failures import PermanentError, RetryPolicy, describe, is_transient


def test_what_counts_as_transient() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(asyncpg.ConnectionDoesNotExistError("closed in the middle"))
    assert is_transient(asyncpg.InterfaceError("cannot perform operation: connection is closed"))
    assert is_transient(asyncpg.SerializationError("could not serialize"))
    assert is_transient(TimeoutError())
    assert is_transient(KafkaConnectionError())
    assert not is_transient(asyncpg.InterfaceError("the server expects 2 arguments, 1 passed"))
    assert not is_transient(FileNotFoundError("template.txt"))
    assert not is_transient(asyncpg.UniqueViolationError("duplicate key"))
    assert not is_transient(ValueError("bad data"))
    assert not is_transient(PermanentError("never"))


def test_a_database_in_trouble_is_transient() -> None:
    """Disk full, out of memory, an administrator's shutdown, an I/O error, a read-only
    transaction after a failover: the database's trouble, retried without limit (a consumer
    never dead-letters, a scheduled job is never parked, for it)."""
    for trouble in (asyncpg.DiskFullError(), asyncpg.OutOfMemoryError(),
                    asyncpg.TooManyConnectionsError(), asyncpg.AdminShutdownError(),
                    asyncpg.PostgresIOError(), asyncpg.ReadOnlySQLTransactionError()):
        assert is_transient(trouble), type(trouble).__name__


def test_a_failure_is_described_without_its_message() -> None:
    """A parked job's `last_error`: the class and what names the schema, never the message,
    which may quote the failing row."""
    error = asyncpg.CheckViolationError("Failing row contains (Mario Rossi)")
    assert describe(error) == "CheckViolationError (sqlstate 23514)"
    assert describe(ValueError("Mario Rossi")) == "ValueError"


def test_the_back_off_doubles_up_to_its_ceiling() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=0.5, max_seconds=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
