"""The published event catalogue: AsyncAPI 3.0 with a JSON Schema per event, generated from the
pydantic contracts, and the compatibility check that fails the build on a breaking change.

`docs/events/asyncapi.json` is the committed, published form. The tests regenerate it from the
models and compare: a breaking change (a type or field removed, a field's type changed, a new
required field, a narrowed enum) fails with the reason; a compatible change (a new type, a new
optional field) only asks for the file to be regenerated with `cowork catalogue --write`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from cowork.shared.events.contracts import ALL_EVENTS, DomainEvent
from cowork.shared.events.topics import ALL_EVENT_TOPICS

CATALOGUE_VERSION = "1.0.0"

_CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "unique per event"},
        "ce_source": {"type": "string", "description": "/cowork/<service>"},
        "ce_type": {"type": "string"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the aggregate id (also the key)"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context, when tracing"},
    },
}


def _message_name(model: type[DomainEvent]) -> str:
    return model.event_type.removeprefix("cowork.").replace(".", "_")


def build_catalogue() -> dict[str, Any]:
    by_topic: dict[str, list[type[DomainEvent]]] = defaultdict(list)
    for model in ALL_EVENTS:
        by_topic[model.topic].append(model)
    compacted = {t.name for t in ALL_EVENT_TOPICS if t.compacted}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for topic, models in sorted(by_topic.items()):
        channel_id = topic.replace(".", "_")
        channels[channel_id] = {
            "address": topic,
            "description": ("compacted; a tombstone (null value) on erasure"
                            if topic in compacted else "domain events"),
            "messages": {_message_name(m): {"$ref": f"#/components/messages/{_message_name(m)}"}
                         for m in models},
        }
        operations[f"receive_{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
        }
        for model in models:
            name = _message_name(model)
            schema = model.model_json_schema(mode="serialization")
            schemas[name] = schema
            messages[name] = {
                "name": model.event_type,
                "title": model.__name__,
                "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "",
                "contentType": "application/json",
                "headers": _CE_HEADERS,
                "bindings": {"kafka": {"key": {"type": "string",
                                               "description": f"{model.key_field}"}}},
                "payload": {"$ref": f"#/components/schemas/{name}"},
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Cowork events",
            "version": CATALOGUE_VERSION,
            "description": "Domain events of Cowork's services, CloudEvents 1.0 over Kafka in "
                           "binary content mode. Consumers ignore types and fields they do not "
                           "know. Money in integer euro cents; times RFC 3339 UTC.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(catalogue: dict[str, Any]) -> str:
    return json.dumps(catalogue, indent=2, sort_keys=True) + "\n"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref and ref.startswith("#/$defs/"):
        return dict(root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {}))
    return schema


def _shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """What a field accepts, reduced to what matters for compatibility."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return sorted(json.dumps(_shape(s, root), sort_keys=True) for s in schema["anyOf"])
    keep: dict[str, Any] = {k: schema[k] for k in ("type", "format", "enum", "const") if k in schema}
    if "items" in schema:
        keep["items"] = _shape(schema["items"], root)
    return keep


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every way `current` would break a consumer built against `published`."""
    problems: list[str] = []
    old_schemas = published.get("components", {}).get("schemas", {})
    new_schemas = current.get("components", {}).get("schemas", {})
    old_channels = {c["address"] for c in published.get("channels", {}).values()}
    new_channels = {c["address"] for c in current.get("channels", {}).values()}
    for address in sorted(old_channels - new_channels):
        problems.append(f"topic {address} was removed")
    for name, old in sorted(old_schemas.items()):
        new = new_schemas.get(name)
        if new is None:
            problems.append(f"event {name} was removed (publish a .v2 beside it instead)")
            continue
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        for field, old_field in sorted(old_props.items()):
            if field not in new_props:
                problems.append(f"{name}.{field} was removed")
                continue
            before, after = _shape(old_field, old), _shape(new_props[field], new)
            if before != after and not _widened(before, after):
                problems.append(f"{name}.{field} changed type: {before} -> {after}")
        added_required = set(new.get("required", [])) - set(old.get("required", []))
        for field in sorted(added_required):
            problems.append(f"{name}.{field} is a new required field (make it optional)")
    return problems


def _widened(before: Any, after: Any) -> bool:
    """A field that became nullable, or an enum that gained values, still accepts the old."""
    if isinstance(after, list):
        return json.dumps(before, sort_keys=True) in after or (
            isinstance(before, list) and set(before) <= set(after))
    if isinstance(before, dict) and isinstance(after, dict) and "enum" in before and "enum" in after:
        rest_b = {k: v for k, v in before.items() if k != "enum"}
        rest_a = {k: v for k, v in after.items() if k != "enum"}
        return rest_b == rest_a and set(before["enum"]) <= set(after["enum"])
    return False


def default_path() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "docs").is_dir() and (parent / "shared").is_dir():
            return parent / "docs" / "events" / "asyncapi.json"
    return Path("docs/events/asyncapi.json")
