"""One trace from a booking request to the handling of its event in another service.

With OpenTelemetry on (here an in-memory exporter; in production OTLP from the OTEL_*
variables), the trace of `POST /v1/bookings` holds the membership-replica read and the outbox
insert (asyncpg), the relay's send of the row (a PRODUCER span, child of the context stored
with the row) and the downstream consumer's handling (a CONSUMER span, child of the send).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from uuid import uuid4

import httpx
import pytest
from aiokafka import ConsumerRecord
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from cowork.booking import handlers
from cowork.booking.app import BookingSettings, create_app
from cowork.devtools.kafka import collect
from cowork.devtools.services import bearer
from cowork.shared import db, tracing
from cowork.shared.consumer import EventConsumer
from cowork.shared.events import Envelope, topics
from cowork.shared.events import contracts as ev
from cowork.shared.kafka import ResilientProducer, reliable_producer

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only: the process-wide provider is put back afterwards."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.util._once import Once

    AsyncPGInstrumentor().uninstrument()  # in case an earlier test left it on another provider
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)
    assert tracing.enabled()
    yield memory
    AsyncPGInstrumentor().uninstrument()
    provider.shutdown()
    # OpenTelemetry's own test utilities reset its process-wide provider this way.
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()


def statement(span: ReadableSpan) -> str:
    attrs = span.attributes or {}
    return str(attrs.get("db.statement") or attrs.get("db.query.text") or "")


async def test_a_bookings_trace_reaches_the_consumer_of_its_event(
        exporter: InMemorySpanExporter, infra, database_url: str, topic_prefix: str) -> None:
    settings = BookingSettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                               topic_prefix=topic_prefix, run_scheduler=False,
                               outbox_poll_seconds=0.2, log_json=False)
    app = create_app(settings, clock=lambda: NOW)
    staff = bearer("staff", "desk")
    member_id = uuid4()
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://booking") as client:
        runtime = app.state.runtime
        space = (await client.post("/v1/spaces", headers=staff, json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": {"tue": [["08:00", "19:00"]]}})).json()
        desk = (await client.post(f"/v1/spaces/{space['id']}/resources", headers=staff, json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300})).json()
        activated = ev.MembershipActivated(
            membership_id=uuid4(), member_id=member_id, plan_code="monthly", plan_kind="monthly",
            resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
            period_end=date(2027, 3, 31), price_cents=15000)
        async with runtime.db.acquire() as conn, conn.transaction():
            await handlers.on_activated(conn, Envelope.wrap(activated, source="/cowork/membership"))
        exporter.clear()

        booked = await client.post("/v1/bookings", headers=bearer("member", str(member_id)),
                                   json={"member_id": str(member_id), "resource_id": desk["id"],
                                         "start": "2027-03-02T09:00:00+01:00",
                                         "end": "2027-03-02T10:00:00+01:00"})
        assert booked.status_code == 201, booked.text
        confirmed = ev.BookingConfirmed.event_type
        records = await collect(infra.kafka_bootstrap, topic_prefix + topics.BOOKING_EVENTS,
                                until=lambda rs: any(r.envelope.type == confirmed for r in rs))
        [seen] = [r for r in records if r.envelope.type == confirmed]

    # The consuming service: the shared consumer, fed the record as Kafka handed it over.
    handled: list[str] = []

    async def on_confirmed(conn, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
        handled.append(str(envelope.id))

    producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                           client_id="test-trace"))
    pool = await db.create_pool(database_url, max_size=2)
    downstream = EventConsumer(
        name="downstream", service="vouchers", pool=pool, producer=producer,
        topics=[topics.BOOKING_EVENTS], handlers={ev.BookingConfirmed.event_type: on_confirmed},
        dlq_topic="cowork.vouchers.dlq", topic_prefix=topic_prefix)
    record = ConsumerRecord(seen.topic, seen.partition, seen.offset, 0, 0,
                            (seen.key or "").encode(), seen.value, None, 0, 0,
                            [(k, v.encode()) for k, v in seen.headers.items()])
    try:
        await downstream.apply_records([record])
    finally:
        await pool.close()
        await producer.stop()
    assert handled == [seen.headers["ce_id"]]

    spans = exporter.get_finished_spans()
    [request] = [s for s in spans if s.kind == SpanKind.SERVER and "bookings" in s.name]
    in_trace = [s for s in spans if s.context.trace_id == request.context.trace_id]
    ids = {s.context.span_id for s in in_trace}
    assert any("eligibility" in statement(s) for s in in_trace), "the replica read"
    assert any("INSERT INTO outbox" in statement(s) for s in in_trace), "the outbox insert"
    [send] = [s for s in in_trace if s.kind == SpanKind.PRODUCER]
    assert send.parent is not None and send.parent.span_id in ids, \
        "the send is a child of the request's context stored with the row"
    [handling] = [s for s in in_trace if s.kind == SpanKind.CONSUMER]
    assert handling.parent is not None and handling.parent.span_id == send.context.span_id
    assert handling.name == f"{ev.BookingConfirmed.event_type} process"
    assert seen.headers["traceparent"].split("-")[2] == f"{send.context.span_id:016x}"
