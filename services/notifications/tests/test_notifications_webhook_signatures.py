"""Deliveries are signed the Standard Webhooks way (issue 20 point 4) and verified here with
the `standardwebhooks` package a partner would use: the delivery id is signed, a secret can be
rotated with an overlap in which both signatures are sent, secrets are encrypted at rest, and a
deleted subscription's secret is erased."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

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
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cowork.devtools import Infra
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

CONFIRMED = ev.BookingConfirmed.event_type
PARTNER = bearer("partner", "job-centre")


async def deliver_one(svc: Notifications, receiver: Receiver, path: str) -> Any:
    [envelope] = await svc.publish(booking_confirmed(uuid4(), _soon()))
    [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
    assert row["status"] == "sent", dict(row)
    return row, receiver.at(path)[-1]


async def test_deliveries_verify_with_the_standard_webhooks_library(
        svc: Notifications, receiver: Receiver) -> None:
    created = await svc.client.post("/v1/webhooks", headers=PARTNER, json={
        "url": receiver.url("/ok/std"), "event_types": [CONFIRMED]})
    secret = created.json()["secret"]
    row, request = await deliver_one(svc, receiver, "/ok/std")
    assert request.headers["webhook-id"] == str(row["id"])
    event = Webhook(secret).verify(request.body, request.headers)
    assert event["type"] == CONFIRMED
    # The id is signed: a captured delivery cannot be replayed under another id.
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body, {**request.headers, "webhook-id": str(uuid4())})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(request.body.replace(b"hot_desk", b"event_room"),
                               request.headers)
    # At rest the secret is encrypted: the database never holds it in the clear.
    async with svc.runtime.db.acquire() as conn:
        stored = await conn.fetchval("SELECT secret FROM webhook_subscriptions")
    assert secret not in stored and secret.removeprefix("whsec_") not in stored


async def test_a_rotated_secret_overlaps_then_the_old_one_is_dropped(
        svc: Notifications, receiver: Receiver) -> None:
    created = (await svc.client.post("/v1/webhooks", headers=PARTNER, json={
        "url": receiver.url("/ok/rot"), "event_types": [CONFIRMED]})).json()
    old = created["secret"]
    rotate = await svc.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                   headers=bearer("partner", "someone-else"))
    assert rotate.status_code == 404
    rotate = await svc.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                   headers=PARTNER)
    assert rotate.status_code == 200, rotate.text
    new = rotate.json()["secret"]
    assert new != old and rotate.json()["previous_secret_expires_at"]

    _, during = await deliver_one(svc, receiver, "/ok/rot")
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(during.body, during.headers)  # a partner not yet switched
    Webhook(new).verify(during.body, during.headers)  # a partner already switched

    svc.clock.advance(hours=25)  # the overlap (24 h by default) is over
    _, after = await deliver_one(svc, receiver, "/ok/rot")
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    async with svc.runtime.db.acquire() as conn:
        assert await conn.fetchval(
            "SELECT previous_secret IS NULL FROM webhook_subscriptions WHERE id = $1",
            created["id"])


async def test_a_deleted_subscription_keeps_no_secret(svc: Notifications,
                                                      receiver: Receiver) -> None:
    created = (await svc.client.post("/v1/webhooks", headers=PARTNER, json={
        "url": receiver.url("/ok/gone"), "event_types": [CONFIRMED]})).json()
    deleted = await svc.client.delete(f"/v1/webhooks/{created['id']}", headers=PARTNER)
    assert deleted.status_code == 204
    async with svc.runtime.db.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM webhook_subscriptions WHERE id = $1",
                                  created["id"])
    assert row["secret"] is None and not row["active"]


def _soon() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


async def test_secrets_stored_in_the_clear_before_are_encrypted_at_start(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port)
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    subscription = uuid4()
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        async with svc.runtime.db.acquire() as conn:  # as a release before 0002 stored it
            await conn.execute(
                "INSERT INTO webhook_subscriptions (id, owner_sub, url, event_types, secret, "
                "created_at) VALUES ($1, 'job-centre', $2, $3, $4, now())", subscription,
                receiver.url("/ok/legacy"), [CONFIRMED], secret)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        async with svc.runtime.db.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT secret FROM webhook_subscriptions WHERE id = $1", subscription)
        assert secret not in stored
        _, request = await deliver_one(svc, receiver, "/ok/legacy")
        Webhook(secret).verify(request.body, request.headers)  # the partner's secret still works


async def test_a_secret_made_before_standard_webhooks_still_signs_its_deliveries(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    """Attack (operator upgrading): before migration 0002 a secret was `whsec_` +
    `secrets.token_urlsafe(32)`, URL-safe base64 without padding, not the standard base64 the
    new signer decodes. Every delivery to such a subscription failed to be signed (binascii
    "Incorrect padding", logged as a `delivery_error`) and went dead after its attempts. Its
    key is the 32 bytes the URL-safe text encodes: the partner verifies with those (the same
    key in standard base64)."""
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port)
    key = b"\xfb\xef\xff" * 10 + b"ok"  # its URL-safe base64 has `-` and `_`
    legacy = "whsec_" + base64.urlsafe_b64encode(key).decode().rstrip("=")
    assert "-" in legacy and "_" in legacy and len(legacy) == 6 + 43
    subscription = uuid4()
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        async with svc.runtime.db.acquire() as conn:  # as the release before 0002 stored it
            await conn.execute(
                "INSERT INTO webhook_subscriptions (id, owner_sub, url, event_types, secret, "
                "created_at) VALUES ($1, 'job-centre', $2, $3, $4, now())", subscription,
                receiver.url("/ok/urlsafe"), [CONFIRMED], legacy)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        _, request = await deliver_one(svc, receiver, "/ok/urlsafe")
        Webhook("whsec_" + base64.b64encode(key).decode()).verify(request.body, request.headers)


async def test_a_retried_rotation_keeps_the_secret_the_partner_holds_for_the_overlap(
        svc: Notifications, receiver: Receiver) -> None:
    """Attack (careless partner): the answer to the first rotation is lost (a timeout), so the
    partner rotates again. It still runs the original secret and deploys the second new one
    within the overlap; meanwhile its deliveries must verify with the original, as the docs
    promise ("until then every delivery carries two signatures ... let the old one lapse")."""
    created = (await svc.client.post("/v1/webhooks", headers=PARTNER, json={
        "url": receiver.url("/ok/retried"), "event_types": [CONFIRMED]})).json()
    original = created["secret"]
    lost = await svc.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                 headers=PARTNER)
    assert lost.status_code == 200  # never read by the partner
    svc.clock.advance(minutes=1)
    retried = await svc.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                    headers=PARTNER)
    assert retried.status_code == 200
    _, request = await deliver_one(svc, receiver, "/ok/retried")
    Webhook(retried.json()["secret"]).verify(request.body, request.headers)
    Webhook(original).verify(request.body, request.headers)  # the secret still deployed
    # Rotating again and again keeps a bounded number of old secrets, and only for the overlap.
    for _ in range(3):
        latest = (await svc.client.post(f"/v1/webhooks/{created['id']}/rotate-secret",
                                        headers=PARTNER)).json()["secret"]
    _, request = await deliver_one(svc, receiver, "/ok/retried")
    assert len(request.headers["webhook-signature"].split(" ")) == 3
    with pytest.raises(WebhookVerificationError):
        Webhook(original).verify(request.body, request.headers)
    svc.clock.advance(hours=25)
    _, request = await deliver_one(svc, receiver, "/ok/retried")
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(latest).verify(request.body, request.headers)
