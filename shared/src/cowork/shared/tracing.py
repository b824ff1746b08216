"""W3C trace context carried from HTTP requests and consumed events into the events they cause.

An HTTP request's `traceparent` header (or a new trace, when it has none) and a consumed event's
`traceparent` header become the current trace; `outbox.add_event` stamps it on every event
written meanwhile, so a partner can follow one member's click through every service. The
trace id is also bound into the log context.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("cowork_traceparent", default=None)


def parse(traceparent: str | None) -> tuple[str, str] | None:
    match = _TRACEPARENT.match(traceparent or "")
    if not match or match[1] == "0" * 32:
        return None
    return match[1], match[2]


def child_of(traceparent: str | None) -> str:
    """A new span in the caller's trace, or a new trace when there is none or it is invalid."""
    parsed = parse(traceparent)
    trace_id = parsed[0] if parsed else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def trace_id(traceparent: str | None) -> str | None:
    parsed = parse(traceparent)
    return parsed[0] if parsed else None


def current() -> str | None:
    return _current.get()


def set_current(traceparent: str | None) -> object:
    return _current.set(traceparent)


def reset(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]
