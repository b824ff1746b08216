"""Partner webhooks against a real local HTTP receiver: structured CloudEvents, the documented
verification (Standard Webhooks), retries with backoff then dead, replay, and a hanging receiver that stalls
nothing else. Plus the API's rules."""

from __future__ import annotations

import itertools
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest
from notifications_support import (
    Notifications,
    OffsetClock,
    Receiver,
    SmtpSink,
    bearer,
    booking_confirmed,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.devtools.kafka import collect, of_type
from cowork.notifications import domain
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]

DOCS = Path(__file__).resolve().parents[3] / "docs" / "notifications.md"
PARTNER = bearer("partner", "job-centre")
OPERATOR = bearer("operator", "ops")
CONFIRMED = ev.BookingConfirmed.event_type


def documented_verify() -> Any:
    """The partner's recipe, exactly as docs/notifications.md prints it."""
    text = DOCS.read_text()
    recipe = re.search(r"<!-- verification-recipe.*?```python\n(.*?)```", text, re.S)
    assert recipe, "the verification recipe is missing from docs/notifications.md"
    namespace: dict[str, Any] = {}
    exec(compile(recipe.group(1), str(DOCS), "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify"]


async def subscribe(svc: Notifications, url: str, types: list[str]) -> dict[str, Any]:
    response = await svc.client.post("/v1/webhooks", json={"url": url, "event_types": types},
                                     headers=PARTNER)
    assert response.status_code == 201, response.text
    return response.json()


async def test_a_delivery_is_a_signed_structured_cloudevent_that_the_recipe_verifies(
        svc: Notifications, receiver: Receiver) -> None:
    subscription = await subscribe(svc, receiver.url("/ok/partner"), [CONFIRMED])
    secret = subscription["secret"]
    [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
    [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
    assert row["status"] == "sent"
    [request] = receiver.at("/ok/partner")

    assert request.headers["content-type"] == "application/cloudevents+json"
    assert request.headers["webhook-id"] == str(row["id"])
    # The id computed in SQL for the batch is the one the domain derives from the key.
    assert row["id"] == domain.delivery_id(envelope.id, "webhook", subscription["id"])
    cloudevent = json.loads(request.body)
    assert cloudevent["specversion"] == "1.0" and cloudevent["id"] == str(envelope.id)
    assert cloudevent["type"] == CONFIRMED and cloudevent["source"] == "/cowork/booking"
    assert cloudevent["data"]["booking_id"] == str(envelope.data.booking_id)

    verify = documented_verify()
    assert verify(secret, request.headers, request.body)
    assert not verify(secret, request.headers, request.body.replace(b"hot_desk", b"event_room"))
    older = {**request.headers,
             "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) - 1)}
    assert not verify(secret, older, request.body)
    assert not verify("whsec_c29tZW9uZS1lbHNlLXNvbWVvbmUtZWxzZQ==", request.headers,
                      request.body)
    replayed_late = {**request.headers,
                     "webhook-timestamp": str(int(time.time()) - 3600)}
    assert not verify(secret, replayed_late, request.body)


async def test_failing_deliveries_back_off_then_die_and_an_operator_replays_them(
        svc: Notifications, receiver: Receiver) -> None:
    await subscribe(svc, receiver.url("/flaky/partner"), ["*"])
    [envelope] = await svc.publish(ev.VoucherGranted(
        voucher_id=uuid4(), programme_id=uuid4(), member_id=uuid4(), amount_cents=100,
        valid_until="2027-12-31"))
    [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
    assert (row["status"], row["attempts"]) == ("dead", 4)
    assert row["last_error"] == "http_status: 500"

    attempts = [r.at for r in receiver.at("/flaky/partner")]
    assert len(attempts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    # base 0.2 s doubling, equal jitter: each wait is at least half its ceiling.
    for gap, floor in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert gap >= floor * 0.95, gaps

    def webhook_failures(records):  # type: ignore[no-untyped-def]
        return [r for r in of_type(records, ev.NotificationFailed.event_type)
                if r.envelope.data.channel == "webhook"]

    failed = await collect(svc.bootstrap, svc.topic_prefix + topics.NOTIFICATIONS_EVENTS,
                           until=lambda rs: bool(webhook_failures(rs)))
    [record] = webhook_failures(failed)
    assert record.envelope.data.notification_id == row["id"]
    assert record.envelope.data.attempts == 4 and record.envelope.data.channel == "webhook"
    # The log finds it as `dead`, and as `failed` (the event's word) too.
    for word in ("dead", "failed"):
        found = await svc.client.get(f"/v1/deliveries?cause_event_id={envelope.id}&status={word}",
                                     headers=OPERATOR)
        assert found.status_code == 200, found.text
        # (the member's own mail about the grant may have died too: no contact card here)
        assert str(row["id"]) in [d["id"] for d in found.json()]
        assert {d["status"] for d in found.json()} == {"dead"}

    staff_replay = await svc.client.post(f"/v1/deliveries/{row['id']}/replay",
                                         headers=bearer("staff"))
    assert staff_replay.status_code == 403
    receiver.healthy = True
    replay = await svc.client.post(f"/v1/deliveries/{row['id']}/replay", headers=OPERATOR)
    assert replay.status_code == 200, replay.text
    assert replay.json()["status"] == "pending"
    await _until_status(svc, row["id"], "sent")
    last = receiver.at("/flaky/partner")[-1]
    assert last.headers["webhook-id"] == str(row["id"])
    again = await svc.client.post(f"/v1/deliveries/{uuid4()}/replay", headers=OPERATOR)
    assert again.status_code == 404


async def test_a_hanging_receiver_does_not_stall_other_deliveries(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    # A timeout long enough that everything below happens while the hanging requests are open.
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_timeout_seconds=15.0)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        await subscribe(svc, receiver.url("/hang/slow-partner"), [CONFIRMED])
        await subscribe(svc, receiver.url("/ok/quick-partner"), [CONFIRMED])
        member = uuid4()
        address = await svc.contact(member, language="en")
        await svc.publish(*[booking_confirmed(member, _soon()) for _ in range(5)])

        async def all_went_out(conn: asyncpg.Connection) -> bool:
            sent = await conn.fetchval(
                "SELECT count(*) FROM deliveries WHERE status = 'sent' AND "
                "(channel = 'email' OR recipient_ref = $1)", quick["id"])
            return bool(sent == 10)

        quick = (await svc.client.get("/v1/webhooks", headers=PARTNER)).json()[1]
        assert quick["url"].endswith("/ok/quick-partner")
        await svc.until(all_went_out, timeout=14)
        assert len(receiver.at("/ok/quick-partner")) == 5 and len(svc.sink.to(address)) == 5
        # ... while the hanging partner holds two requests open (its in-flight limit), the
        # other three waiting their turn.
        assert len(receiver.at("/hang/slow-partner")) == 2
        hanging = [r["status"] for r in await svc.deliveries(channel="webhook")
                   if r["recipient_ref"] != quick["id"]]
        assert sorted(hanging) == ["pending"] * 3 + ["sending"] * 2


async def test_webhook_api_rules(svc: Notifications, receiver: Receiver) -> None:
    url = receiver.url("/ok/x")
    cases = [
        (bearer("member", str(uuid4())), {"url": url, "event_types": [CONFIRMED]}, 403, None),
        (PARTNER, {"url": url, "event_types": ["cowork.membership.contact_card.v1"]}, 422,
         "event_types"),
        (PARTNER, {"url": url, "event_types": []}, 422, "event_types"),
        (PARTNER, {"url": "ftp://example.org/x", "event_types": [CONFIRMED]}, 422, "url"),
        (PARTNER, {"url": "http://" + "a" * 2100 + ".org", "event_types": [CONFIRMED]}, 422,
         "url"),
        (PARTNER, {"url": url, "event_types": [CONFIRMED], "extra": 1}, 422, "extra"),
    ]
    for headers, body, status, field in cases:
        response = await svc.client.post("/v1/webhooks", json=body, headers=headers)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["error"]["field"] == field
    assert (await svc.client.post("/v1/webhooks", json={})).status_code == 401

    created = await subscribe(svc, url, [CONFIRMED, CONFIRMED])
    assert created["secret"].startswith("whsec_") and created["event_types"] == [CONFIRMED]
    listed = (await svc.client.get("/v1/webhooks", headers=PARTNER)).json()
    assert [s["id"] for s in listed] == [created["id"]] and "secret" not in listed[0]
    assert (await svc.client.get("/v1/webhooks", headers=bearer("partner", "other"))).json() == []
    gone = await svc.client.delete(f"/v1/webhooks/{created['id']}",
                                   headers=bearer("partner", "other"))
    assert gone.status_code == 404
    assert (await svc.client.delete(f"/v1/webhooks/{created['id']}",
                                    headers=PARTNER)).status_code == 204


async def test_the_delivery_log_shows_members_only_their_own(svc: Notifications) -> None:
    mine, theirs = uuid4(), uuid4()
    for member in (mine, theirs):
        await svc.contact(member)
        [envelope] = await svc.publish(booking_confirmed(member, _soon()))
        await svc.settled(cause_event_id=envelope.id)
    me = bearer("member", str(mine))
    own = (await svc.client.get("/v1/deliveries", headers=me)).json()
    assert {d["recipient_ref"] for d in own} == {str(mine)}
    assert own[0]["status"] == "sent" and own[0]["template"] == "booking_confirmed"
    assert "@" not in json.dumps(own), "no addresses in the log"
    other = await svc.client.get(f"/v1/deliveries?recipient_ref={theirs}", headers=me)
    assert other.status_code == 403
    [their_delivery] = await svc.deliveries(recipient_ref=str(theirs))
    path = f"/v1/deliveries/{their_delivery['id']}"
    assert (await svc.client.get(path, headers=me)).status_code == 404
    seen_by_them = await svc.client.get(path, headers=bearer("member", str(theirs)))
    assert seen_by_them.status_code == 200 and seen_by_them.json()["status"] == "sent"
    everyone = (await svc.client.get("/v1/deliveries?status=sent",
                                     headers=bearer("staff"))).json()
    assert {str(mine), str(theirs)} <= {d["recipient_ref"] for d in everyone}
    bad = await svc.client.get("/v1/deliveries?status=lost", headers=bearer("staff"))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"
    assert (await svc.client.get("/v1/deliveries")).status_code == 401


async def _until_status(svc: Notifications, delivery_id: UUID, status: str) -> None:
    await svc.until(lambda c: c.fetchval(
        "SELECT status = $2 FROM deliveries WHERE id = $1", delivery_id, status), timeout=15)


def _soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
