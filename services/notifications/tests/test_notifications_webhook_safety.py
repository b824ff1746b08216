"""A partner's endpoint cannot be turned against the service or the town (issue 20 points 1-3):
a reply's body is never read (a trickle or a gzip bomb changes nothing), a delivery that keeps
killing its sender goes dead, webhooks reach only the addresses the policy allows and connect
to the address that was checked, partners see coarse failures, and webhooks can never take
the mail's capacity."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import tracemalloc
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx
import pytest
from cryptography.fernet import Fernet
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

from cowork.devtools import Infra, free_port
from cowork.notifications import subscriptions
from cowork.shared.events import contracts as ev
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra]

CONFIRMED = ev.BookingConfirmed.event_type


async def subscribe(svc: Notifications, url: str, types: Sequence[str] = (CONFIRMED,), *,
                    partner: str = "job-centre") -> dict[str, Any]:
    response = await svc.client.post("/v1/webhooks", json={"url": url, "event_types": types},
                                     headers=bearer("partner", partner))
    assert response.status_code == 201, response.text
    return response.json()


def _soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


# -- point 1: the reply's body


@pytest.mark.parametrize("path", ["/trickle/partner", "/bomb/partner"])
async def test_a_reply_whose_body_never_ends_or_inflates_is_judged_by_its_status(
        svc: Notifications, receiver: Receiver, path: str) -> None:
    await subscribe(svc, receiver.url(path))
    started = time.monotonic()
    tracemalloc.start()  # the dispatcher runs in this process: its allocations are traced
    try:
        [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
        [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook", timeout=20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The bomb inflates to 64 MiB: nothing near that was ever held.
    assert peak < 16 * 1024 * 1024, peak
    assert (row["status"], row["attempts"]) == ("sent", 1), dict(row)
    # Sent at the first attempt, long before the trickle (5 s) would have ended.
    assert time.monotonic() - started < 4
    assert len(receiver.at(path)) == 1


async def test_a_delivery_that_keeps_killing_its_sender_goes_dead(
        svc: Notifications, receiver: Receiver) -> None:
    """A sender that died holding a delivery leaves it `sending`; once its lease runs out it is
    claimed again only while attempts remain: the attempt that killed the sender counted."""
    subscription = await subscribe(svc, receiver.url("/ok/killer"))
    now = svc.clock()
    delivery = uuid4()
    async with svc.runtime.db.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
            "recipient_ref, template, subject_ref, payload, status, attempts, "
            "next_attempt_at, lease_until, created_at) VALUES ($1, $2, $3, 'webhook', $4, $3, "
            "'x', '{}'::jsonb, 'sending', 4, $5, $5, $5)",
            delivery, uuid4(), CONFIRMED, subscription["id"], now - timedelta(minutes=5))
    await svc.until(lambda c: c.fetchval(
        "SELECT status <> 'sending' FROM deliveries WHERE id = $1", delivery), timeout=10)
    [row] = await svc.deliveries(id=delivery)
    assert (row["status"], row["attempts"]) == ("dead", 4), dict(row)
    assert receiver.at("/ok/killer") == []


# -- point 2: where a webhook may go


async def test_subscriptions_to_internal_addresses_or_with_credentials_are_refused(
        svc: Notifications) -> None:
    for url in ("http://user:pass@partner.example/hook", "http://169.254.169.254/",
                "http://0xa9fea9fe/", "http://10.0.0.7:8080/", "http://[fe80::1]/",
                "http://[::ffff:169.254.169.254]/", "http://192.168.1.1/"):
        response = await svc.client.post("/v1/webhooks", json={
            "url": url, "event_types": [CONFIRMED]}, headers=bearer("partner", "p"))
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["field"] == "url", url
    listed = await svc.client.get("/v1/webhooks", headers=bearer("partner", "p"))
    assert listed.json() == []


def production_settings(infra: Infra, database_url: str, topic_prefix: str, smtp_port: int,
                        **change: Any) -> Any:
    return settings_for(infra, database_url, topic_prefix, smtp_port, environment="production",
                        jwt_secret=LOCAL_DEV_JWT_SECRET,
                        webhook_secret_keys=Fernet.generate_key().decode(), **change)


async def test_outside_the_local_stack_only_https_to_public_addresses(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    settings = production_settings(infra, database_url, topic_prefix, smtp_sink.port)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        for url in (receiver.url("/ok/plain"), "https://127.0.0.1:5432/", "https://[::1]/",
                    "https://2130706433:8003/", "https://0x7f000001:8001/v1/members"):
            response = await svc.client.post("/v1/webhooks", json={
                "url": url, "event_types": [CONFIRMED]}, headers=bearer("partner", "p"))
            assert response.status_code == 422, (url, response.text)
            assert response.json()["error"]["field"] == "url"
        # A name is checked when delivering, by the address it resolves to (localhost).
        await subscribe(svc, f"https://localhost:{receiver.port}/ok/named", partner="p")
        [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
        [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
        assert row["status"] == "dead" and row["last_error"] == "connection_failed", dict(row)
        assert receiver.requests == []


async def test_a_partner_sees_coarse_failures(svc: Notifications, receiver: Receiver) -> None:
    await subscribe(svc, receiver.url("/missing/x"))
    await subscribe(svc, f"http://127.0.0.1:{free_port()}/closed")
    [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
    rows = await svc.settled(2, cause_event_id=envelope.id, channel="webhook")
    assert sorted(r["last_error"] for r in rows) == ["connection_failed", "http_status: 404"]


class Resolver:
    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.answers[host]


async def test_the_connection_goes_to_the_address_that_was_checked(receiver: Receiver) -> None:
    """The name is resolved once per connection, every address it has is checked, and the
    connection is made to the checked address with the partner's name kept as Host."""
    from cowork.notifications.addresses import AddressPolicy
    from cowork.notifications.webhook_transport import guarded_client

    resolver = Resolver({"partner.test": ["127.0.0.1"]})
    async with guarded_client(AddressPolicy(local=True), resolve=resolver, timeout=5) as client:
        url = f"http://partner.test:{receiver.port}/ok/pinned"
        response = await client.post(url, content=b"{}")
        assert response.status_code == 204
    [request] = receiver.at("/ok/pinned")
    assert request.headers["host"] == f"partner.test:{receiver.port}"
    assert resolver.calls == 1

    # A name with one internal address among public ones is refused whole (rebinding by
    # several answers); outside the local stack, loopback is refused too.
    for policy, answers in ((AddressPolicy(local=True), ["93.184.216.34", "10.0.0.1"]),
                            (AddressPolicy(), ["127.0.0.1"])):
        bad = Resolver({"partner.test": answers})
        async with guarded_client(policy, resolve=bad, timeout=5) as client:
            with pytest.raises(httpx.ConnectError):
                await client.post(f"http://partner.test:{receiver.port}/ok/refused")
    assert receiver.at("/ok/refused") == []


# -- point 3: webhooks cannot starve mail


async def test_mail_goes_out_on_time_while_more_receivers_hang_than_there_are_slots(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_timeout_seconds=20.0, delivery_concurrency=3,
                            webhook_concurrency=3, mail_concurrency=2)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        for partner in range(6):
            await subscribe(svc, receiver.url(f"/hang/{partner}"), ["*"], partner=f"p{partner}")
        member = uuid4()
        address = await svc.contact(member, language="en")
        started = time.monotonic()
        await svc.publish(*[booking_confirmed(member, _soon()) for _ in range(4)])
        await svc.until(lambda c: c.fetchval(
            "SELECT count(*) = 4 FROM deliveries WHERE channel = 'email' AND status = 'sent'"),
            timeout=8)
        assert time.monotonic() - started < 8 and len(svc.sink.to(address)) == 4
        assert 1 <= len(receiver.at("/hang/")) <= 3


async def test_in_flight_limits_per_subscription_and_per_partner(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_timeout_seconds=20.0, webhook_concurrency=16,
                            webhook_in_flight_per_subscription=2,
                            webhook_in_flight_per_partner=3)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        await subscribe(svc, receiver.url("/hang/a"), partner="slow")
        await subscribe(svc, receiver.url("/hang/b"), partner="slow")
        await subscribe(svc, receiver.url("/ok/other"), partner="quick")
        events = await svc.publish(*[booking_confirmed(uuid4(), _soon()) for _ in range(5)])
        await svc.settled(5, channel="webhook", recipient_ref=(
            await svc.client.get("/v1/webhooks", headers=bearer("partner", "quick"))
        ).json()[0]["id"])
        await asyncio.sleep(1.0)  # time for the dispatcher to take more, if it would
        assert len(events) == 5
        assert len(receiver.at("/hang/a")) <= 2 and len(receiver.at("/hang/b")) <= 2
        assert len(receiver.at("/hang/")) == 3


async def test_a_partner_has_a_bounded_number_of_subscriptions_even_when_racing(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_subscriptions_per_partner=3)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        async def create(i: int) -> httpx.Response:
            return await svc.client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:9/{i}", "event_types": ["*"]},
                headers=bearer("partner", "greedy"))

        answers = await asyncio.gather(*[create(i) for i in range(8)])
        assert sorted(a.status_code for a in answers) == [201] * 3 + [409] * 5
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["error"]["code"] == "subscription_limit"
        async with svc.runtime.db.acquire() as conn:
            assert len(await subscriptions.subscriptions_of(conn, "greedy")) == 3
        # Another partner is not affected.
        await subscribe(svc, "http://127.0.0.1:9/x", partner="other")
        assert json.dumps(answers[0].json())


async def test_one_deadline_for_the_whole_attempt(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink) -> None:
    """A receiver that answers one byte of its headers every 0.2 s never lets a per-read
    timeout fire; the attempt still ends at WEBHOOK_TIMEOUT_SECONDS, as a `timeout`."""
    opened: list[float] = []

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        opened.append(time.monotonic())
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\n")
            for _ in range(100):
                writer.write(b"X")
                await writer.drain()
                await asyncio.sleep(0.2)
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_timeout_seconds=1.0, smtp_timeout_seconds=10.0,
                            delivery_max_attempts=1)
    try:
        async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
            await subscribe(svc, f"http://127.0.0.1:{port}/slowloris")
            [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
            [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
            assert (row["status"], row["last_error"]) == ("dead", "timeout"), dict(row)
            assert len(opened) == 1
            took = (row["settled_at"] - row["created_at"]).total_seconds()
            assert took < 2.5, took
    finally:
        server.close()


async def test_a_subscription_made_before_the_rules_neither_shows_nor_uses_its_credentials(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    """Attack (hostile partner, before the upgrade): a release before migration 0002 took
    `http://user:pass@…` (issue 20 point 2). The rules were applied at subscription only, so
    such a subscription kept being listed with its password and kept receiving events over
    plain http with the credentials sent along, outside the local stack too (here the
    partner's network is on the operator's allow-list, as over a private link)."""
    settings = production_settings(infra, database_url, topic_prefix, smtp_sink.port,
                                   webhook_allowed_networks=["127.0.0.0/8"])
    url = f"http://user:hunter2@127.0.0.1:{receiver.port}/ok/legacy-credentials"
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        async with svc.runtime.db.acquire() as conn:  # as a release before 0002 stored it
            await conn.execute(
                "INSERT INTO webhook_subscriptions (id, owner_sub, url, event_types, secret, "
                "created_at) VALUES ($1, 'p', $2, $3, $4, now())", uuid4(), url, [CONFIRMED],
                "whsec_" + "a" * 44)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        for caller in (bearer("partner", "p"), bearer("operator", "ops")):
            listed = await svc.client.get("/v1/webhooks", headers=caller)
            assert listed.status_code == 200
            assert "hunter2" not in listed.text, listed.text
        [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
        [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
        assert row["status"] == "dead" and row["last_error"] == "url_refused", dict(row)
        assert receiver.at("/ok/legacy-credentials") == []
