"""The service as declared (issue 18): the dispatcher is a background worker the runtime starts
after itself and stops before itself, offered to the routes through `runtime.components`; its
stop is bounded whatever the receivers do (a stop once hung a test run's teardown)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from notifications_support import (
    OffsetClock,
    Receiver,
    SmtpSink,
    bearer,
    booking_confirmed,
    running,
    settings_for,
)

from cowork.devtools import Infra
from cowork.notifications.app import SERVICE
from cowork.notifications.dispatcher import DISPATCHER, dispatcher_worker
from cowork.notifications.queue_metrics import queue_sampler
from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_the_dispatcher_is_a_declared_worker_offered_to_the_routes(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink) -> None:
    # The dispatcher, and the sampler of its queue for /metrics (queue_metrics).
    assert list(SERVICE.workers) == [dispatcher_worker, queue_sampler]
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        runtime = svc.runtime
        assert runtime.components[DISPATCHER] is svc.dispatcher
        assert runtime.pool is not None, "started after the runtime"
    assert DISPATCHER not in runtime.components


async def test_the_stop_is_bounded_while_a_receiver_hangs(
        infra: Infra, database_url: str, topic_prefix: str, smtp_sink: SmtpSink,
        receiver: Receiver) -> None:
    # The attempt's own timeout is far longer than the stop's grace (10 s).
    settings = settings_for(infra, database_url, topic_prefix, smtp_sink.port,
                            webhook_timeout_seconds=120.0)
    async with running(settings, OffsetClock(), smtp_sink, infra.kafka_bootstrap) as svc:
        created = await svc.client.post("/v1/webhooks", headers=bearer("partner", "p"), json={
            "url": receiver.url("/hang/partner"),
            "event_types": [ev.BookingConfirmed.event_type]})
        assert created.status_code == 201, created.text
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
        await svc.publish(booking_confirmed(uuid4(), start))
        while not receiver.at("/hang/partner"):  # noqa: ASYNC110 - the receiver has no event
            await asyncio.sleep(0.05)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 30, "the dispatcher's stop waited for the receiver"
