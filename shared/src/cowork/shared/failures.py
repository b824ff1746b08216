"""What a consumer's failure means: the world away (retry for as long as it takes), or the
event or the code (a bounded number of attempts, then a dead letter).

Shared by the inbox consumer (`cowork.shared.consumer`) and its dead letters
(`cowork.shared.dead_letters`); handlers raise `PermanentError` for an event that can never be
applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiokafka.errors import KafkaConnectionError
from pydantic import ValidationError

# Transient means the world, not the event: the database or the broker could not be reached,
# or the transaction lost a race (deadlock, serialization, a NOWAIT lock). Such a failure is
# retried for as long as it takes. Everything else — a bug (asyncpg's InterfaceError for a
# wrong argument count, a FileNotFoundError: both are not connection failures though the
# second is an OSError), a constraint the event violates — is retried `max_attempts` times and
# then dead-lettered with its cause.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # includes ConnectionDoesNotExistError
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    # The database in trouble, not the work: disk full, out of memory, too many connections
    # (class 53), an I/O error (58030), a server in recovery or a read-only replica after a
    # failover (25006). Retried until it is itself again; never a dead letter or a parked job.
    asyncpg.InsufficientResourcesError,
    asyncpg.PostgresIOError,
    asyncpg.ReadOnlySQLTransactionError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # a pool that could not hand out a connection, a network wait
    KafkaConnectionError,
)


def is_transient(error: BaseException) -> bool:
    """Whether `error` says the infrastructure is away or a race was lost (retry without
    limit), rather than something about the event or the code (bounded, then dead letter)."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    # asyncpg raises a plain InterfaceError for calls on a connection that was closed under
    # us; every other InterfaceError is a programming error.
    return isinstance(error, asyncpg.InterfaceError) and "connection is closed" in str(error)


def describe(error: BaseException) -> str:
    """What went wrong, for a record an operator reads (a parked job's `last_error`): the
    exception's class and a short reason with no personal data. An exception's message may
    quote the data (PostgreSQL's DETAIL shows the failing row), so only what names the schema
    or the code is kept: a PostgreSQL error's SQLSTATE, constraint and table; a refusal's
    stable `code`."""
    parts = [type(error).__name__]
    if isinstance(error, asyncpg.PostgresError):
        parts.append(f"sqlstate {error.sqlstate}")
        for attribute in ("constraint_name", "table_name"):
            value = getattr(error, attribute, None)
            if value:
                parts.append(f"{attribute.removesuffix('_name')} {value}")
    code = getattr(error, "code", None)
    if isinstance(code, str) and code.isidentifier() and len(code) <= 50:
        parts.append(f"code {code}")
    return ": ".join(parts[:1]) + (" (" + ", ".join(parts[1:]) + ")" if parts[1:] else "")


def without_values(error: BaseException) -> str:
    """What `error` says, without the values PostgreSQL and pydantic quote: a PostgreSQL
    error's DETAIL shows the refused row ("Failing row contains (...)", "Key (email)=(...)"),
    the row on file included, and pydantic's errors their `input_value`. The first is
    `describe`d, the second reduced to each problem's field and message; any other error
    says its message."""
    if isinstance(error, asyncpg.PostgresError):
        return describe(error)
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                         for e in error.errors(include_url=False, include_input=False)[:5])
    return f"{error}"


def quotes_values(error: BaseException) -> bool:
    """Whether `error`, or one it was raised from or while handling, is of the kinds whose
    text quotes values (see `without_values`)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, asyncpg.PostgresError | ValidationError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class PermanentError(Exception):
    """Raised by a handler for an event that can never be applied: dead-lettered at once."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.2
    max_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base_seconds * (2 ** (attempt - 1)), self.max_seconds))
