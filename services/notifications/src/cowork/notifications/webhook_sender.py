"""One webhook attempt: sign the CloudEvent the Standard Webhooks way and POST it through the
guarded client (webhook_transport.py), under one deadline for the whole attempt.

Only the status of the reply counts. Its body is never decoded (a gzip body is never
inflated) and never read past `RESPONSE_READ_CAP` bytes: a receiver that answers with an
endless or a hostile body costs nothing (issue 20 point 1). What the partner sees of a failure
in the delivery log is coarse (`timeout`, `connection_failed`, `http_status: 404`): no port
scan of the town's network through `last_error`; the detail goes to the service's log."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from cowork.notifications import domain, subscriptions
from cowork.notifications.addresses import AddressPolicy, url_problem
from cowork.notifications.secret_box import SecretBox
from cowork.notifications.webhook_transport import guarded_client
from cowork.shared.logging import get_logger

log = get_logger(__name__)

RESPONSE_READ_CAP = 16 * 1024


class WebhookFailed(Exception):
    """The attempt failed in a way that may pass; `str()` is what the partner sees."""


class SubscriptionGone(Exception):
    """The subscription was deleted: the delivery is cancelled."""


def _overlap_over(subscription: asyncpg.Record, now: datetime) -> bool:
    until = subscription["previous_secret_until"]
    return until is not None and until <= now


class WebhookSender:
    def __init__(self, policy: AddressPolicy, box: SecretBox, *, timeout_seconds: float) -> None:
        self._box = box
        self._policy = policy
        self._deadline = timeout_seconds
        self._http = guarded_client(policy, timeout=timeout_seconds)

    async def close(self) -> None:
        await self._http.aclose()

    def secrets_of(self, subscription: asyncpg.Record, now: datetime) -> list[str]:
        """The current secret, and the previous ones while their overlap lasts."""
        secrets = [self._box.open(subscription["secret"])]
        until = subscription["previous_secret_until"]
        if subscription["previous_secret"] and until is not None and until > now:
            secrets += self._box.open(subscription["previous_secret"]).split()
        return secrets

    async def send(self, pool: asyncpg.Pool, row: asyncpg.Record, payload: dict[str, Any],
                   now: datetime) -> None:
        async with pool.acquire() as conn:
            subscription = await subscriptions.subscription(conn, UUID(row["recipient_ref"]))
            if subscription is not None and _overlap_over(subscription, now):
                await subscriptions.drop_expired_previous_secrets(conn, now)  # no need to keep it
        if subscription is None or not subscription["active"]:
            raise SubscriptionGone("subscription removed")
        if url_problem(subscription["url"], self._policy) is not None:
            # Made before these rules (plain http, credentials): judged again at every delivery.
            raise WebhookFailed("url_refused")
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        message_id = str(row["id"])
        headers = {
            "Content-Type": "application/cloudevents+json",
            domain.ID_HEADER: message_id,
            domain.TIMESTAMP_HEADER: str(timestamp),
            domain.SIGNATURE_HEADER: domain.signature_header(
                self.secrets_of(subscription, now), message_id, timestamp, body),
            "User-Agent": "cowork-notifications/1",
            "Accept-Encoding": "identity",
        }
        try:
            async with asyncio.timeout(self._deadline):
                status = await self._post(subscription["url"], body, headers)
        except TimeoutError as exc:
            raise WebhookFailed("timeout") from exc
        except httpx.TimeoutException as exc:
            raise WebhookFailed("timeout") from exc
        except httpx.HTTPError as exc:
            log.info("webhook connection failed", delivery_id=message_id,
                     error_type=type(exc).__name__, error=str(exc)[:200])
            raise WebhookFailed("connection_failed") from exc
        if not 200 <= status < 300:
            # Even a 4xx is retried: a partner fixing a misconfigured endpoint should not lose
            # the events of the meantime. After the last attempt the delivery is dead.
            raise WebhookFailed(f"http_status: {status}")

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        async with self._http.stream("POST", url, content=body, headers=headers) as response:
            read = 0
            # A little of the body is read (raw: never inflated) so that a short reply leaves
            # the connection reusable; a long one is abandoned and the connection closed.
            async for chunk in response.aiter_raw():
                read += len(chunk)
                if read >= RESPONSE_READ_CAP:
                    break
            return int(response.status_code)
