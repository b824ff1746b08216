"""Who may do what in notifications, as data: every operation x every role -> status (see
cowork.devtools.authorization). A change of rule changes a cell here, on purpose.

Partners and operators manage webhook subscriptions (a partner only its own); only an operator
replays a delivery; a member reads only their own deliveries and preferences (the front desk
may change them on the member's behalf); someone else's delivery answers 404, as if it did not
exist."""

from __future__ import annotations

from uuid import uuid4

import pytest
from notifications_support import Notifications

from cowork.devtools.authorization import (
    JOBS_OPERATIONS,
    ROLES,
    Context,
    Operation,
    expect,
    local_token,
    operations_without_a_row,
    role_headers,
    run_matrix,
)
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

PARTNER = "partner-1"  # the subject role_headers gives the partner role



def subscription(url: str = "https://partner.example.com/cowork") -> dict[str, object]:
    return {"url": url, "event_types": [ev.BookingConfirmed.event_type]}


async def member_with_a_delivery(svc: Notifications) -> Context:
    """A member and a settled e-mail to them (written as the dispatcher leaves it)."""
    member, delivery = uuid4(), uuid4()
    async with svc.runtime.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
            "recipient_ref, template, subject_ref, payload, status, attempts, next_attempt_at, "
            "created_at, sent_at, settled_at) VALUES ($1, $2, $3, 'email', $4, "
            "'voucher_granted', $5, $6::jsonb, 'sent', 1, now(), now(), now(), now())",
            delivery, uuid4(), ev.VoucherGranted.event_type, str(member), str(uuid4()),
            '{"amount_cents": 25000, "valid_until": "2027-06-30"}')
    return {"member": str(member), "delivery": str(delivery)}


def operations(svc: Notifications) -> list[Operation]:
    async def partners_subscription() -> Context:
        response = await svc.client.post("/v1/webhooks", json=subscription(),
                                         headers={"Authorization": "Bearer "
                                                  + local_token("partner", PARTNER)})
        assert response.status_code == 201, response.text
        return {**await member_with_a_delivery(svc), "subscription": response.json()["id"]}

    partner_or_operator = expect(member_self=403, staff=403, operator=200, partner=200)
    own_or_staff = expect(member_self=200, staff=200)
    return [
        Operation("create_webhook", "POST", "/v1/webhooks",
                  expect(member_self=403, staff=403, operator=201, partner=201),
                  body=lambda ctx: subscription()),
        Operation("list_webhooks", "GET", "/v1/webhooks", partner_or_operator),
        Operation("delete_webhook", "DELETE", "/v1/webhooks/{subscription}",
                  expect(member_self=403, staff=403, operator=204, partner=204),
                  prepare=partners_subscription),
        Operation("rotate_webhook_secret", "POST", "/v1/webhooks/{subscription}/rotate-secret",
                  partner_or_operator, prepare=partners_subscription),
        Operation("deliveries", "GET", "/v1/deliveries",
                  expect(member_self=200, staff=200, operator=200),
                  params=lambda ctx: {"recipient_ref": ctx["member"]}),
        Operation("read_delivery", "GET", "/v1/deliveries/{delivery}",
                  expect(member_self=200, member_other=404, staff=200, officer=404,
                         operator=200, partner=404)),
        Operation("replay", "POST", "/v1/deliveries/{delivery}/replay",
                  expect(member_self=403, staff=403, operator=200)),
        Operation("set_preferences", "PUT", "/v1/members/{member}/preferences", own_or_staff,
                  body=lambda ctx: {"opted_out": ["reminders"]}),
        Operation("get_preferences", "GET", "/v1/members/{member}/preferences", own_or_staff),
        *JOBS_OPERATIONS,  # mounted on every service with scheduled jobs
    ]


async def test_every_operation_for_every_role(svc: Notifications) -> None:
    ops = operations(svc)
    assert all(set(op.expected) == set(ROLES) for op in ops)
    assert operations_without_a_row(svc.client._transport.app, ops) == set(), (  # type: ignore[attr-defined]
        "an operation without a row in the matrix")
    mismatches = await run_matrix(svc.client, ops, role_headers(),
                                  lambda: member_with_a_delivery(svc))
    assert mismatches == [], "\n".join(map(str, mismatches))


async def test_a_partner_sees_and_ends_only_its_own_subscriptions(svc: Notifications) -> None:
    ours = {"Authorization": "Bearer " + local_token("partner", PARTNER)}
    theirs = {"Authorization": "Bearer " + local_token("partner", "partner-2")}
    mine = (await svc.client.post("/v1/webhooks", json=subscription(), headers=ours)).json()
    other = (await svc.client.post("/v1/webhooks", json=subscription(
        "https://other.example.com/hook"), headers=theirs)).json()
    listed = await svc.client.get("/v1/webhooks", headers=ours)
    assert [s["id"] for s in listed.json()] == [mine["id"]]
    ended = await svc.client.delete(f"/v1/webhooks/{other['id']}", headers=ours)
    assert ended.status_code == 404
    operator = {"Authorization": "Bearer " + local_token("operator", "operator-1")}
    everyone = await svc.client.get("/v1/webhooks", headers=operator)
    assert {mine["id"], other["id"]} <= {s["id"] for s in everyone.json()}
