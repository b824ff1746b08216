"""No commitment above what is available, under any concurrency: a thousand simultaneous
applications through two replicas of the service against a budget for exactly 100 vouchers."""

from __future__ import annotations

import asyncio
from collections import Counter
from uuid import uuid4

import httpx
import pytest
from vouchers_support import Vouchers, assert_verify_clean, member_token

from cowork.devtools import Infra
from cowork.shared.events import contracts as ev
from cowork.vouchers.app import VouchersSettings, create_app

pytestmark = [pytest.mark.infra]


async def test_a_thousand_applications_for_a_hundred_vouchers_grant_exactly_a_hundred(
        svc: Vouchers, infra: Infra) -> None:
    programme = await svc.programme(budget_cents=100 * 150_000, eligibility={})
    # A thousand members membership told the service of (it refuses ids it does not know).
    members = [uuid4() for _ in range(1_000)]
    await svc.runtime.db.execute(
        "INSERT INTO members (member_id, kind, updated_at) "
        "SELECT unnest($1::uuid[]), 'person', now()", members)
    settings = svc.runtime.settings
    assert isinstance(settings, VouchersSettings)
    second = create_app(settings.model_copy(update={"run_relay": False}), clock=svc.clock)
    async with second.router.lifespan_context(second), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=second), base_url="http://replica-2") as client_2:
        clients = [svc.client, client_2]

        async def apply(n: int) -> httpx.Response:
            member_id = members[n]
            return await clients[n % 2].post(
                f"/v1/programmes/{programme['id']}/applications",
                json={"member_id": str(member_id), "declarations": {}},
                headers=member_token(member_id))

        responses = await asyncio.gather(*(apply(n) for n in range(1_000)))

    outcomes = Counter((r.status_code, r.json().get("status") or r.json()["error"]["code"])
                       for r in responses)
    assert outcomes[(201, "granted")] == 100, outcomes
    assert set(outcomes) <= {(201, "granted"), (201, "rejected"), (409, "programme_closed")}
    after = await svc.read_programme(programme["id"])
    assert (after["status"], after["available_cents"], after["committed_cents"]) == \
        ("closed", 0, 15_000_000)
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM vouchers") == 100
    assert len(await svc.outbox(ev.VoucherGranted)) == 100
    assert len(await svc.outbox(ev.ProgrammeClosed)) == 1
    await svc.ledger_is_balanced(programme["id"])
    await assert_verify_clean(svc.runtime.db)
