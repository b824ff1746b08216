"""What the notifications routes take by dependency besides `Runtime` and `Caller`."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Depends

from cowork.notifications.dispatcher import DISPATCHER
from cowork.shared.api import transactions, translated_errors
from cowork.shared.service import Runtime

Work = Callable[[asyncpg.Connection], Awaitable[Any]]

_errors = translated_errors()


def _transaction(runtime: Runtime) -> Callable[[Work], Awaitable[Any]]:
    return transactions(runtime, _errors)


# `await in_tx(work)`: `work(conn)` in one transaction, the database's refusals as API errors.
InTx = Annotated[Callable[[Work], Awaitable[Any]], Depends(_transaction)]


def _asleep() -> None:
    """No dispatcher running (an app whose workers did not start): the delivery is sent at
    its next poll once one does."""


def _wake(runtime: Runtime) -> Callable[[], None]:
    dispatcher = runtime.components.get(DISPATCHER)
    return dispatcher.wake if dispatcher is not None else _asleep


# Tells the dispatcher there is something to send now rather than at its next poll.
WakeDispatcher = Annotated[Callable[[], None], Depends(_wake)]
