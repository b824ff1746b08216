"""Cowork's webhooks, for a partner that takes deliveries over HTTPS instead of reading Kafka.

Cowork signs every delivery the Standard Webhooks way (`webhook-id`, `webhook-timestamp`,
`webhook-signature`; docs/partners.md), so the partner verifies with the `standardwebhooks`
library rather than a recipe of its own: the signature over the raw body, the delivery id (a
capture cannot be replayed under another id) and a timestamp within five minutes."""

from __future__ import annotations

from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self._webhook = Webhook(secret)  # the whsec_… Cowork answered at subscription

    def receive(self, headers: dict[str, str], raw_body: bytes) -> dict[str, Any] | None:
        """The CloudEvent if the delivery comes from Cowork, else None (answer 400). The
        `webhook-id` header is the idempotency key: the same on every retry of a delivery."""
        try:
            event: dict[str, Any] = self._webhook.verify(raw_body, headers)
        except WebhookVerificationError:
            return None
        return event
