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
