"""Trace context flows from a request or a consumed event into the events it causes."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from cowork.shared import db, tracing
from cowork.shared.http import install_metrics_middleware
from cowork.shared.outbox import add_event

from support import SOURCE, Sequenced

pytestmark = [pytest.mark.infra]

INCOMING = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_child_span_keeps_the_trace_and_an_invalid_parent_starts_a_new_trace() -> None:
    child = tracing.child_of(INCOMING)
    assert tracing.trace_id(child) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert child != INCOMING
    fresh = tracing.child_of("garbage")
    assert tracing.parse(fresh) is not None
    assert tracing.trace_id(fresh) != "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_http_request_trace_reaches_the_events_it_writes(service_db: str) -> None:
    conn = await db.connect(service_db)
    app = FastAPI()
    install_metrics_middleware(app, "test")

    @app.post("/do")
    async def do() -> dict[str, str]:
        async with conn.transaction():
            envelope = await add_event(conn, Sequenced(stream="t", seq=1), source=SOURCE)
        return {"traceparent": envelope.traceparent or ""}

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as client:
            response = await client.post("/do", headers={"traceparent": INCOMING})
        stored = await conn.fetchval("SELECT headers->>'traceparent' FROM outbox")
    finally:
        await conn.close()
    assert tracing.trace_id(stored) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.json()["traceparent"] == stored
    assert response.headers["traceparent"] == stored



def _reset_provider() -> None:
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    # OpenTelemetry's own test utilities reset its process-wide provider this way.
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()


def test_opentelemetry_is_off_without_an_otlp_endpoint_and_on_with_one(monkeypatch) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                 "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"):
        monkeypatch.delenv(name, raising=False)
    assert not tracing.configure("test") and not tracing.enabled()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert not tracing.configure("test")
    monkeypatch.delenv("OTEL_SDK_DISABLED")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "cowork-booking-eu1")
    try:
        assert tracing.configure("booking") and tracing.enabled()
        provider = trace.get_tracer_provider()
        assert isinstance(provider, TracerProvider)
        assert provider.resource.attributes["service.name"] == "cowork-booking-eu1"
        provider.shutdown()
    finally:
        _reset_provider()
    assert not tracing.enabled()


PERSONAL = ("mario.rossi@example.org", "RSSMRA80A01H501U")


async def test_spans_carry_no_query_values_sql_parameters_nor_exception_messages(
        monkeypatch: pytest.MonkeyPatch, service_db: str) -> None:
    """With OpenTelemetry on, what reaches the collector names the route, the statement and
    the error's type, never a member's search words, tax code, SQL parameters or an exception
    message that quotes them (issue 20 #11)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    memory = InMemorySpanExporter()
    assert tracing.configure("test", exporter=memory)
    pool = await db.create_pool(service_db, max_size=2)
    app = FastAPI()

    @app.get("/v1/members")
    async def search(q: str, tax_code: str) -> dict[str, str]:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT $1::text || $2::text", q, tax_code)
            await conn.execute("SELECT 1 / 0 WHERE $1::text IS NOT NULL", q)  # quotes nothing
        return {}

    @app.get("/v1/fail")
    async def fail(q: str) -> dict[str, str]:
        raise LookupError(f"no member like {q}")

    try:
        tracing.instrument(app)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app,
                                                                   raise_app_exceptions=False),
                                     base_url="http://t") as client:
            await client.get("/v1/members", params={"q": PERSONAL[0], "tax_code": PERSONAL[1]})
            await client.get("/v1/fail", params={"q": PERSONAL[0]})
        provider = trace.get_tracer_provider()
        provider.force_flush()  # type: ignore[attr-defined]
        spans = memory.get_finished_spans()
        exported = "".join(span.to_json() for span in spans)
    finally:
        await pool.close()
        trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
        _reset_provider()
        # asyncpg's instrumentation is process-wide and keeps the tracer it was given: left
        # on, later tests' statements would go to this test's shut-down provider.
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().uninstrument()  # type: ignore[no-untyped-call]
    assert any(span.events for span in spans), "the exceptions were recorded (by type)"
    assert "/v1/members" in exported and "SELECT" in exported
    for value in PERSONAL:
        assert value not in exported
