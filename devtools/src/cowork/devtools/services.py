"""Helpers for tests that run several services in one process (tests/): a local-stack token,
a service app served in-process with its lifespan, and waiting for another service to catch up
through Kafka."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import httpx
from fastapi import FastAPI

from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

T = TypeVar("T")


def bearer(role: str, sub: str = "someone") -> dict[str, str]:
    """An Authorization header with a local-stack token for `role`."""
    return {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])}


@contextlib.asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The service started (migrations, relay, consumers) and a client that calls it in-process."""
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        yield client


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 30.0) -> T:
    """Until `check` returns something other than None: what another service learns through
    Kafka arrives a little later."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result is not None:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the other service never caught up")
        await asyncio.sleep(0.2)
