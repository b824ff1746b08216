"""The delivery queue on /metrics (cowork_notifications_queue by channel and status, and how
overdue the oldest due delivery is): what the mail-queue and webhook-failure panels and alerts
of deploy/helm/cowork/files/ read, measured from the database while the service runs."""

from __future__ import annotations

from uuid import uuid4

import httpx
import pytest
from notifications_support import OffsetClock, Receiver, SmtpSink, bearer, running, settings_for
from prometheus_client.parser import text_string_to_metric_families

from cowork.devtools import Infra
from cowork.devtools.services import eventually
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def queue_on_metrics_page(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    page = (await client.get("/metrics")).text
    return {(s.labels["channel"], s.labels["status"]): s.value
            for family in text_string_to_metric_families(page)
            if family.name == "cowork_notifications_queue"
            for s in family.samples if s.labels.get("service") == "notifications"}


async def test_a_dead_webhook_shows_on_the_metrics_page(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            kafka_watch_seconds=0.1)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        created = await svc.client.post("/v1/webhooks", headers=bearer("partner", "p"), json={
            "url": receiver.url("/flaky/partner"), "event_types": ["*"]})
        assert created.status_code == 201, created.text
        # The receiver answers 500: four attempts, then the delivery is given up (dead).
        [envelope] = await svc.publish(ev.VoucherGranted(
            voucher_id=uuid4(), programme_id=uuid4(), member_id=uuid4(), amount_cents=100,
            valid_until="2027-12-31"))
        [row] = await svc.settled(cause_event_id=envelope.id, channel="webhook")
        assert row["status"] == "dead"

        async def measured() -> dict[tuple[str, str], float] | None:
            queue = await queue_on_metrics_page(svc.client)
            return queue if queue.get(("webhook", "dead")) == 1 else None

        queue = await eventually(measured, timeout=10)
        assert queue[("webhook", "pending")] == 0
        assert set(queue) == {(c, s) for c in ("email", "webhook")
                              for s in ("pending", "sending", "dead")}
