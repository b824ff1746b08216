"""The partner's webhook verification against deliveries built as Cowork documents them
(docs/partners.md: `v1,` + base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.<body>`,
keyed with the base64-decoded part of `whsec_…`; two signatures during a secret rotation)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time

from desk_rewards.webhooks import WebhookReceiver


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def signed(body: bytes, *secrets_: str, message_id: str = "d1", at: int | None = None
           ) -> dict[str, str]:
    timestamp = str(int(time.time()) if at is None else at)
    content = f"{message_id}.{timestamp}.".encode() + body
    signatures = [
        "v1," + base64.b64encode(hmac.new(base64.b64decode(s.removeprefix("whsec_")), content,
                                          hashlib.sha256).digest()).decode()
        for s in secrets_]
    return {"webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": " ".join(signatures),
            "content-type": "application/cloudevents+json"}


BODY = json.dumps({"specversion": "1.0", "id": "e1", "type": "cowork.booking.booking.confirmed.v1",
                   "source": "/cowork/booking", "data": {"booking_id": "b1"}},
                  separators=(",", ":")).encode()


def test_a_delivery_signed_by_cowork_is_accepted_and_anything_else_refused() -> None:
    secret = new_secret()
    receiver = WebhookReceiver(secret)
    headers = signed(BODY, secret)
    assert receiver.receive(headers, BODY)["type"] == "cowork.booking.booking.confirmed.v1"
    assert receiver.receive(headers, BODY.replace(b"b1", b"b2")) is None  # altered
    assert receiver.receive({**headers, "webhook-id": "d2"}, BODY) is None  # replayed as another
    assert receiver.receive(signed(BODY, new_secret()), BODY) is None  # someone else's secret
    assert receiver.receive(signed(BODY, secret, at=int(time.time()) - 3600), BODY) is None


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = new_secret(), new_secret()
    headers = signed(BODY, new, old)  # Cowork signs with both during the overlap
    assert WebhookReceiver(old).receive(headers, BODY) is not None
    assert WebhookReceiver(new).receive(headers, BODY) is not None
