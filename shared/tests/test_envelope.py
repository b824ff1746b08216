"""The CloudEvents envelope: every v1 type survives the trip through Kafka's record shape."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from datetime import UTC, date, datetime
from uuid import UUID, uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime

from cowork.shared.events import REGISTRY, Envelope, MalformedEvent, UnknownEventType, decode
from cowork.shared.events.contracts import ALL_EVENTS, DomainEvent, MemberRegistered
from cowork.shared.events.envelope import headers_to_dict

SPECIAL = {"period": "2026-11", "sha256": "a" * 64, "threshold_pct": 80, "coverage_pct": 50}


def _sample_value(name: str, annotation: object) -> object:
    if name in SPECIAL:
        return SPECIAL[name]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return _sample_value(name, next(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        return args[0]
    if origin is list:
        return [_sample_value(name, args[0])]
    if origin is dict:
        return {_sample_value(name, args[0]): _sample_value(name, args[1])}
    if origin is typing.Annotated:
        return _sample_value(name, args[0])
    if annotation is UUID:
        return uuid4()
    if annotation is AwareDatetime or annotation is datetime:
        return datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    if annotation is date:
        return date(2026, 11, 24)
    if annotation is bool:
        return True
    if annotation is int:
        return 1500
    if annotation is str:
        return "x"
    raise AssertionError(f"no sample for {name}: {annotation!r}")


def sample(model: type[DomainEvent]) -> DomainEvent:
    hints = typing.get_type_hints(model, include_extras=False)
    values = {name: _sample_value(name, hints[name]) for name in model.model_fields}
    return model.model_validate(values)


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.event_type)
def test_every_v1_type_round_trips_through_headers_and_value(model: type[DomainEvent]) -> None:
    event = sample(model)
    envelope = Envelope.wrap(event, source="/cowork/test", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01")
    raw_headers = envelope.kafka_headers()
    decoded = decode(headers_to_dict(raw_headers), envelope.value())
    assert decoded.data == event
    assert decoded.id == envelope.id
    assert decoded.type == model.event_type
    assert decoded.subject == event.key()
    assert decoded.traceparent == envelope.traceparent
    headers = dict(raw_headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"] == b"/cowork/test"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_time"].endswith(b"Z")
    assert decoded == dataclasses.replace(envelope, sequence=None), "every field, as sent"


@pytest.mark.parametrize("spelling", [str.upper, lambda s: "{" + s + "}",
                                      lambda s: "urn:uuid:" + s, lambda s: s.replace("-", "")])
def test_an_id_in_any_spelling_uuid_accepts_decodes_to_the_same_id(spelling) -> None:
    """decode parses ids with asyncpg's C parser and falls back to the standard one, so a
    partner's braces or URN are still read."""
    envelope = Envelope.wrap(sample(MemberRegistered), source="/x")
    headers = envelope.headers()
    headers["ce_id"] = spelling(str(envelope.id))
    decoded = decode(headers, envelope.value())
    assert decoded.id == envelope.id
    assert isinstance(decoded.id, UUID) and hash(decoded.id) == hash(envelope.id)


def test_registry_holds_every_type_of_the_catalogue_once() -> None:
    assert all(REGISTRY[m.event_type] is m for m in ALL_EVENTS)
    assert all(m.event_type.startswith("cowork.") and m.event_type.endswith(".v1")
               for m in ALL_EVENTS)


def test_consumers_ignore_fields_they_do_not_know() -> None:
    event = sample(MemberRegistered)
    payload = {**json.loads(event.model_dump_json()), "added_in_a_later_minor": 1}
    envelope = Envelope.wrap(event, source="/cowork/membership")
    decoded = decode(envelope.headers(), json.dumps(payload).encode())
    assert decoded.data == event


def test_unknown_types_are_reported_as_unknown_not_malformed() -> None:
    envelope = Envelope.wrap(sample(MemberRegistered), source="/x")
    headers = {**envelope.headers(), "ce_type": "cowork.future.thing.v1"}
    with pytest.raises(UnknownEventType):
        decode(headers, b"{}")


def test_tombstone_decodes_with_no_data() -> None:
    from cowork.shared.events.contracts import ContactCard

    envelope = Envelope(type=ContactCard.event_type, source="/cowork/membership",
                        subject=str(uuid4()), data=None)
    assert envelope.value() is None
    assert decode(envelope.headers(), None).data is None


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda h: h.pop("ce_id"), "missing"),
    (lambda h: h.update(ce_id="not-a-uuid"), "not a UUID"),
    (lambda h: h.update(ce_specversion="0.3"), "specversion"),
    (lambda h: h.update(ce_time="yesterday"), "RFC 3339"),
])
def test_broken_headers_are_malformed(mutate, reason: str) -> None:
    envelope = Envelope.wrap(sample(MemberRegistered), source="/x")
    headers = envelope.headers()
    mutate(headers)
    with pytest.raises(MalformedEvent, match=reason):
        decode(headers, envelope.value())


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_escape_as_anything_but_malformed(value: bytes) -> None:
    envelope = Envelope.wrap(sample(MemberRegistered), source="/x")
    try:
        decoded = decode(envelope.headers(), value)
    except MalformedEvent:
        return
    assert isinstance(decoded.data, MemberRegistered)  # only a valid payload gets through


def test_invalid_payload_names_the_field() -> None:
    envelope = Envelope.wrap(sample(MemberRegistered), source="/x")
    payload = json.loads(envelope.value() or b"{}")
    payload["kind"] = "robot"
    with pytest.raises(MalformedEvent, match="kind"):
        decode(envelope.headers(), json.dumps(payload).encode())
