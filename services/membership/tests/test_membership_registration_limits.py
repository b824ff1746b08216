"""Anonymous self-registration is rate-limited (issue 20, point 6): per address and per client,
429 with Retry-After, counted as keyed digests (no address or IP kept), robust to `+tag`
addresses, IPv6 /64 rotation and IPv4-mapped IPv6; X-Forwarded-For believed only from a
configured trusted proxy."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from membership_support import PERSON, Membership
from stdnum.it import codicefiscale

from cowork.devtools import Infra, ManualClock
from cowork.membership.app import MembershipSettings, create_app

pytestmark = [pytest.mark.infra]

WINDOW = 3600


@pytest.fixture
def limited(infra: Infra, database_url: str, topic_prefix: str
            ) -> Callable[..., Any]:
    @asynccontextmanager
    async def start(**limits: Any) -> AsyncIterator[Membership]:
        clock = ManualClock(datetime(2027, 1, 31, 9, 0, tzinfo=UTC))
        settings = MembershipSettings(
            database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=topic_prefix, run_scheduler=False, outbox_poll_seconds=0.2,
            log_json=False, registration_limit_window_seconds=WINDOW, **limits)
        app = create_app(settings, clock=clock)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)  # the peer is 127.0.0.1
            async with httpx.AsyncClient(transport=transport, base_url="http://m") as client:
                yield Membership(client, app.state.runtime, clock, topic_prefix,
                                 infra.kafka_bootstrap)

    return start


def _person(n: int, email: str) -> dict[str, Any]:
    # Distinct people (valid tax codes of the same shape), so only the limits decide.
    stem = f"BNCGLI90A41F{n:03d}"
    return {**PERSON, "email": email, "tax_code": stem + codicefiscale.calc_check_digit(stem)}


async def _register(svc: Membership, n: int, email: str,
                    client: str | None = None) -> httpx.Response:
    headers = {"X-Forwarded-For": client} if client else {}
    return await svc.client.post("/v1/members", json=_person(n, email), headers=headers)


def _refused(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_registrations"
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= WINDOW
    return retry_after


async def test_one_address_in_any_spelling_is_limited(limited: Callable[..., Any]) -> None:
    async with limited(registration_limit_per_address=2,
                       registration_limit_per_client=100) as svc:
        assert (await _register(svc, 1, "anna.verdi+cowork@example.org")).status_code == 201
        assert (await _register(svc, 2, "Anna.Verdi+again@EXAMPLE.org")).status_code == 201
        _refused(await _register(svc, 3, "anna.verdi@example.org"))
        assert (await _register(svc, 4, "someone.else@example.org")).status_code == 201
        staff = await svc.client.post("/v1/members", json=_person(5, "anna.verdi@example.org"),
                                      headers=svc.token())
        assert staff.status_code == 201, "the desk registering someone is not limited"
        svc.clock.advance(seconds=WINDOW + 1)
        assert (await _register(svc, 6, "anna.verdi+later@example.org")).status_code == 201


async def test_a_client_is_limited_across_its_ipv6_64_and_mapped_ipv4(
        limited: Callable[..., Any]) -> None:
    async with limited(registration_limit_per_address=100, registration_limit_per_client=2,
                       trusted_proxies=["127.0.0.1/32"]) as svc:
        # One client behind the trusted proxy, rotating within its /64.
        assert (await _register(svc, 1, "a1@example.org", "2001:db8:5:6::1")).status_code == 201
        assert (await _register(svc, 2, "a2@example.org",
                                "2001:db8:5:6:ffff:1:2:3")).status_code == 201
        retry_after = _refused(await _register(svc, 3, "a3@example.org", "2001:db8:5:6::9"))
        # Another /64 is another client.
        assert (await _register(svc, 4, "a4@example.org", "2001:db8:5:7::1")).status_code == 201
        # IPv4 and its IPv4-mapped IPv6 spelling are one client; the rightmost address a
        # trusted proxy added is the one believed (what the client wrote before is not).
        assert (await _register(svc, 5, "b1@example.org", "203.0.113.7")).status_code == 201
        assert (await _register(svc, 6, "b2@example.org",
                                "198.51.100.1, ::ffff:203.0.113.7")).status_code == 201
        _refused(await _register(svc, 7, "b3@example.org", "10.9.9.9, 203.0.113.7"))
        svc.clock.advance(seconds=retry_after)
        assert (await _register(svc, 8, "a5@example.org", "2001:db8:5:6::2")).status_code == 201


async def test_forwarded_for_from_an_untrusted_peer_is_ignored(
        limited: Callable[..., Any]) -> None:
    async with limited(registration_limit_per_address=100,
                       registration_limit_per_client=2) as svc:
        assert (await _register(svc, 1, "c1@example.org", "192.0.2.1")).status_code == 201
        assert (await _register(svc, 2, "c2@example.org", "192.0.2.2")).status_code == 201
        _refused(await _register(svc, 3, "c3@example.org", "192.0.2.3"))


async def test_the_counts_keep_no_address_and_no_ip(limited: Callable[..., Any]) -> None:
    async with limited(registration_limit_per_address=1, registration_limit_per_client=5,
                       trusted_proxies=["127.0.0.0/8"]) as svc:
        await _register(svc, 1, "dora.neri@example.org", "203.0.113.99")
        _refused(await _register(svc, 2, "dora.neri+x@example.org", "203.0.113.99"))
        async with svc.runtime.db.acquire() as conn:
            kept = await conn.fetchval(
                "SELECT string_agg(l::text, ' ') FROM registration_limits l")
        assert kept, "the attempts are counted"
        for raw in ("dora", "example.org", "203.0.113", "cb0071"):
            assert raw not in kept.lower()
