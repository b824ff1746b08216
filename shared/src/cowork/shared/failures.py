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


class PermanentError(Exception):
    """Raised by a handler for an event that can never be applied: dead-lettered at once."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_seconds: float = 0.2
    max_seconds: float = 30.0

    def delay(self, attempt: int) -> float:
        return float(min(self.base_seconds * (2 ** (attempt - 1)), self.max_seconds))
