"""W3C trace context carried from HTTP requests and consumed events into the events they cause,
and OpenTelemetry spans along the way.

An HTTP request's `traceparent` header (or a new trace, when it has none) and a consumed event's
`traceparent` header become the current trace; `outbox.add_event` stamps it on every event
written meanwhile, so a partner can follow one member's click through every service. The
trace id is also bound into the log context.

OpenTelemetry is configured from the standard `OTEL_*` variables and is off when no OTLP
endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`), when
`OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`. When on, one trace runs from the HTTP
request (FastAPI instrumentation) through its SQL (asyncpg instrumentation: the replica read,
the outbox insert), the relay's send of each row (a PRODUCER span, child of the context stored
with the row, whose own context goes on the Kafka record) to the handling of the event in the
consuming service (a CONSUMER span, child of the record's context). When off, none of it costs
more than a check. What is exported carries no personal data: URLs lose their query string,
SQL parameters and exception messages are dropped (`_WithoutPersonalData`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import SpanKind, Status
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("cowork_traceparent", default=None)


def parse(traceparent: str | None) -> tuple[str, str] | None:
    match = _TRACEPARENT.match(traceparent or "")
    if not match or match[1] == "0" * 32:
        return None
    return match[1], match[2]


def child_of(traceparent: str | None) -> str:
    """A new span in the caller's trace, or a new trace when there is none or it is invalid.
    Under an OpenTelemetry span (which was itself started as the caller's child) that span is
    the new one: logs and events then carry the ids the trace backend shows."""
    active = _active_traceparent()
    if active is not None:
        return active
    parsed = parse(traceparent)
    trace_id = parsed[0] if parsed else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def trace_id(traceparent: str | None) -> str | None:
    parsed = parse(traceparent)
    return parsed[0] if parsed else None


def current() -> str | None:
    """The trace context to stamp on events written now: the active OpenTelemetry span's,
    else the one set by the request or event being handled."""
    return _active_traceparent() or _current.get()


def set_current(traceparent: str | None) -> object:
    return _current.set(traceparent)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


# ---------------------------------------------------------------- OpenTelemetry

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACER = "cowork"


def enabled() -> bool:
    """Whether spans are recorded: an SDK tracer provider is installed (by `configure`, or by
    a test with an in-memory exporter). The SDK is imported with this module: imported here
    on first use, it cost the relay's first batch a tenth of a second."""
    return isinstance(trace.get_tracer_provider(), TracerProvider)


def configure(service: str, *, exporter: SpanExporter | None = None) -> bool:
    """Install the SDK with an OTLP exporter (or `exporter`) when the standard variables ask
    for one; return whether tracing is on. The provider is process-wide and installed once."""
    if enabled():
        return True
    env = os.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true" or \
            env.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; a name set there
    # wins over ours.
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    provider = TracerProvider(resource=Resource.create(
        {} if named else {"service.name": f"cowork-{service}"}))
    provider.add_span_processor(
        _WithoutPersonalData(BatchSpanProcessor(exporter or OTLPSpanExporter())))
    trace.set_tracer_provider(provider)
    return True


# Attributes that hold a URL or its query (old and new semantic conventions): the query goes.
_URL_ATTRIBUTES = ("http.url", "http.target", "url.full")
_DROPPED_ATTRIBUTES = ("url.query", "db.statement.parameters", "db.query.parameter")
_EXCEPTION_KEPT = ("exception.type", "exception.escaped")


class _WithoutPersonalData(SpanProcessor):
    """Wraps the exporting processor: what leaves the process names routes, statements and
    error types, never a value a member typed. A query string (`?q=` of member search,
    `?tax_code=` of de minimis) is cut from URLs, SQL parameters are dropped, and recorded
    exceptions keep their type but not their message or stack trace (which quote it)."""

    def __init__(self, inner: SpanProcessor) -> None:
        self._inner = inner

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        self._inner.on_end(_scrubbed(span))

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _scrubbed(span: ReadableSpan) -> ReadableSpan:
    attributes = {k: v for k, v in (span.attributes or {}).items()
                  if not k.startswith(_DROPPED_ATTRIBUTES)}
    for key in _URL_ATTRIBUTES:
        if isinstance(attributes.get(key), str):
            attributes[key] = str(attributes[key]).split("?", 1)[0]
    events = [Event(e.name, {k: v for k, v in (e.attributes or {}).items()
                             if e.name != "exception" or k in _EXCEPTION_KEPT}, e.timestamp)
              for e in span.events]
    status = Status(span.status.status_code) if span.status.description else span.status
    return ReadableSpan(
        name=span.name, context=span.context, parent=span.parent, resource=span.resource,
        attributes=attributes, events=events, links=span.links, kind=span.kind, status=status,
        start_time=span.start_time, end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope)


def instrument(app: Any) -> None:
    """FastAPI and asyncpg instrumentation, when tracing is on (asyncpg's is process-wide)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def _active_traceparent() -> str | None:
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def span(name: str, *, parent: str | None, kind: SpanKind,
         attributes: Mapping[str, str | int] | None = None) -> Iterator[None]:
    """A span, child of the W3C `parent` (a new trace without one), current while the block
    runs; nothing when tracing is off."""
    if not enabled():
        yield
        return
    context = _PROPAGATOR.extract({"traceparent": parent}) if parent else None
    with trace.get_tracer(_TRACER).start_as_current_span(
            name, context=context, kind=kind, attributes=dict(attributes or {})):
        yield
