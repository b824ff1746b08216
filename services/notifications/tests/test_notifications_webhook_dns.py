"""Attack (hostile partner): a webhook host whose DNS never answers must cost only that
partner's deliveries, not the service's own name lookups (SMTP server, database, Kafka).

`getaddrinfo` blocks a thread until the resolver gives up (seconds to tens of seconds with an
authoritative server that drops queries). The whole-attempt deadline abandons the wait, but
not the thread: if webhook lookups ran in the event loop's default executor (a handful of
threads: `min(32, cpus + 4)`), a partner's endpoints behind such a name would keep every one
of them busy, and every other lookup of the process (aiosmtplib's connection to the SMTP
server, asyncpg's to the database) would queue behind them. Pure: no infrastructure."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from cowork.notifications.addresses import AddressPolicy
from cowork.notifications.webhook_transport import guarded_client, resolve_with_dns

TARPIT = "tarpit.partner.example"


@pytest.fixture
def tarpit_dns(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """`getaddrinfo` of TARPIT blocks (for at most 10 s, or until released); others answer."""
    real = socket.getaddrinfo
    release = threading.Event()

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == TARPIT or str(host).endswith("." + TARPIT):
            release.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


async def test_a_partner_whose_dns_hangs_does_not_hold_up_the_services_own_lookups(
        tarpit_dns: threading.Event) -> None:
    async with guarded_client(AddressPolicy(local=True), timeout=0.2) as client:
        # Rounds of 4 attempts (the in-flight limit per partner), each abandoned at its
        # deadline, as the dispatcher would run them one after the other.
        async def attempt() -> None:
            with contextlib.suppress(httpx.HTTPError, TimeoutError):
                async with asyncio.timeout(0.2):  # the sender's whole-attempt deadline
                    await client.post(f"http://{TARPIT}/hook", content=b"{}")

        for _ in range(10):
            await asyncio.gather(*(attempt() for _ in range(4)))
        # What the SMTP client does to reach the mail server by its name:
        started = time.monotonic()
        await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo("localhost", 25, type=socket.SOCK_STREAM),
            timeout=8)
        assert time.monotonic() - started < 1.0


@pytest.mark.xfail(strict=True, reason=(
    "webhook names share one pool of 8 resolver threads: a partner's ten subscriptions to "
    "names under a zone whose DNS drops queries keep all of them busy, and other partners' "
    "lookups wait; needs a resolver without threads (aiodns) or threads counted per partner"))
async def test_a_partner_whose_dns_hangs_does_not_hold_up_other_partners_lookups(
        tarpit_dns: threading.Event) -> None:
    async with guarded_client(AddressPolicy(local=True), timeout=0.2) as client:
        async def attempt(host: str) -> None:
            with contextlib.suppress(httpx.HTTPError, TimeoutError):
                async with asyncio.timeout(0.2):
                    await client.post(f"http://{host}/hook", content=b"{}")

        # Ten subscriptions (the per-partner limit), four in flight at a time.
        hosts = [f"h{n}.{TARPIT}" for n in range(10)]
        for start in range(0, 12, 4):
            await asyncio.gather(*(attempt(hosts[(start + i) % 10]) for i in range(4)))
        started = time.monotonic()
        await asyncio.wait_for(resolve_with_dns("localhost", 443), timeout=3)
        assert time.monotonic() - started < 1.0
