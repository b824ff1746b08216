"""CloudEvents 1.0 over Kafka, binary content mode: attributes as `ce_*` headers, data as value.

`Envelope` is what a consumer's handler receives and what the outbox stores. Decoding never
trusts a record: a missing attribute, an unknown-but-required shape or a payload that does not
validate raises `MalformedEvent`, which the consumer turns into a dead letter.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID, uuid4

from pydantic import ValidationError

from cowork.shared.events.contracts import DomainEvent
from cowork.shared.events.registry import REGISTRY

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time")


class MalformedEvent(ValueError):
    """A record that can never be processed, however often it is retried."""


class UnknownEventType(LookupError):
    """A well-formed event of a type this code does not know: consumers skip it."""


@dataclass(frozen=True)
class Envelope:
    type: str
    source: str
    subject: str
    data: DomainEvent | None  # None is a tombstone (compacted topics)
    id: UUID = field(default_factory=uuid4)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None
    # The CloudEvents `sequence` extension: this event's number among its aggregate's events
    # (topic, key), assigned with the outbox row; None from producers that do not number.
    sequence: int | None = None

    @classmethod
    def wrap(cls, event: DomainEvent, *, source: str, traceparent: str | None = None,
             time: datetime | None = None, sequence: int | None = None) -> Envelope:
        return cls(type=event.event_type, source=source, subject=event.key(), data=event,
                   time=time or datetime.now(UTC), traceparent=traceparent, sequence=sequence)

    def headers(self) -> dict[str, str]:
        h = {
            "ce_specversion": SPEC_VERSION,
            "ce_id": str(self.id),
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "ce_subject": self.subject,
            "content-type": CONTENT_TYPE,
        }
        if self.traceparent:
            h["traceparent"] = self.traceparent
        if self.sequence is not None:
            h["ce_sequence"] = str(self.sequence)
        return h

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v.encode()) for k, v in self.headers().items()]

    def value(self) -> bytes | None:
        if self.data is None:
            return None
        return self.data.model_dump_json().encode()


def headers_to_dict(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    """Text headers as a dict. A binary header that is not one of ours (a partner's tracing
    blob, say) is left out; one of ours that is not UTF-8 makes the record malformed."""
    out: dict[str, str] = {}
    for key, raw in headers or ():
        if raw is None:
            continue
        try:
            out[key] = raw.decode()
        except UnicodeDecodeError as exc:
            if key.startswith("ce_") or key in ("content-type", "traceparent"):
                raise MalformedEvent(f"header {key!r} is not UTF-8") from exc
    return out


def decode(headers: dict[str, str], value: bytes | None) -> Envelope:
    """Decode a record. Raises MalformedEvent or UnknownEventType."""
    missing = [name for name in REQUIRED_HEADERS if not headers.get(name)]
    if missing:
        raise MalformedEvent(f"missing CloudEvents header(s): {', '.join(missing)}")
    if headers["ce_specversion"] != SPEC_VERSION:
        raise MalformedEvent(f"unsupported ce_specversion {headers['ce_specversion']!r}")
    try:
        event_id = UUID(headers["ce_id"])
    except ValueError as exc:
        raise MalformedEvent(f"ce_id {headers['ce_id']!r} is not a UUID") from exc
    try:
        time = datetime.fromisoformat(headers["ce_time"].replace("Z", "+00:00"))
    except ValueError as exc:
        raise MalformedEvent(f"ce_time {headers['ce_time']!r} is not RFC 3339") from exc
    sequence: int | None = None
    if headers.get("ce_sequence"):
        try:
            sequence = int(headers["ce_sequence"])
        except ValueError as exc:
            raise MalformedEvent(f"ce_sequence {headers['ce_sequence']!r} is not a number") \
                from exc
    event_type = headers["ce_type"]
    model = REGISTRY.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    data: DomainEvent | None = None
    if value is not None:
        try:
            # pydantic-core parses and validates in one pass: the consumer's hot path.
            data = model.model_validate_json(value)
        except ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                raise MalformedEvent(f"value is not JSON: {_short(exc)}") from exc
            raise MalformedEvent(f"{event_type} payload invalid: {_short(exc)}") from exc
    return Envelope(type=event_type, source=headers["ce_source"],
                    subject=headers.get("ce_subject", ""), data=data, id=event_id, time=time,
                    traceparent=headers.get("traceparent"), sequence=sequence)


def _short(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
