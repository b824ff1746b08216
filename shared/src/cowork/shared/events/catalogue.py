"""The published event catalogue: AsyncAPI 3.0 with a JSON Schema per event, generated from the
pydantic contracts, and the compatibility check that fails the build on a breaking change.

Compatible means what consumers do. Every consumer validates a record against its own build's
strict pydantic model and dead-letters what does not validate, and during a rolling deploy old
and new producers and consumers run side by side, in both pairings. So within a `.v1` type:
- compatible: a new event type (consumers skip types they do not know), a new *optional* field
  (old consumers ignore it, new ones accept its absence);
- breaking: a type or field removed, a field that stops being required, and *any* change of
  what a field accepts — its type, format, enum, nullability, pattern, bounds, lengths, or the
  shape of a nested object — whether it widens (an old consumer refuses the new value: a new
  enum value, a null) or narrows (a new consumer refuses an old producer's value).
A breaking change is a new `.v2` type published beside the old one.

The baseline is the last *released* catalogue, `docs/events/released/<version>.json`, which
nothing overwrites: `cowork catalogue --write` regenerates `docs/events/asyncapi.json` (the
current form) only when it is compatible with that release, and `cowork catalogue --release`
adds a new release file only when compatible too.
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
            "description": ("compacted; a tombstone (null value) on erasure; records keyed "
                            "`cowork.segment-roll` (null value, no headers) only roll the "
                            "log's segment so erased values are compacted: skip them"
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


# Everything in a JSON Schema that changes which values a field accepts.
_CONSTRAINTS = ("type", "format", "enum", "const", "pattern", "minLength", "maxLength",
                "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
                "minItems", "maxItems", "uniqueItems", "additionalProperties")


def _shape(schema: dict[str, Any], root: dict[str, Any]) -> Any:
    """What a field accepts, reduced to what matters for compatibility."""
    schema = _resolve(schema, root)
    if "anyOf" in schema:
        return sorted(json.dumps(_shape(s, root), sort_keys=True) for s in schema["anyOf"])
    keep: dict[str, Any] = {k: schema[k] for k in _CONSTRAINTS if k in schema}
    if "items" in schema:
        keep["items"] = _shape(schema["items"], root)
    if "properties" in schema:
        keep["properties"] = {name: _shape(field, root)
                              for name, field in sorted(schema["properties"].items())}
        keep["required"] = sorted(schema.get("required", []))
    return keep


def breaking_changes(published: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Every way `current` would break a consumer built against `published`, or a consumer
    built against `current` reading what a `published` producer still sends."""
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
            if before != after:
                problems.append(f"{name}.{field} changed what it accepts: {before} -> {after} "
                                "(consumers validate strictly; publish a .v2)")
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for field in sorted(new_required - old_required):
            problems.append(f"{name}.{field} is a new required field (make it optional)")
        for field in sorted((old_required - new_required) & set(new_props)):
            problems.append(f"{name}.{field} is no longer required (old consumers need it)")
    return problems


def releases_dir(path: Path | None = None) -> Path:
    return (path or default_path()).parent / "released"


def last_release(path: Path | None = None) -> tuple[str, dict[str, Any]] | None:
    """The newest released catalogue (by semantic version) and its version, if any."""
    files = sorted(releases_dir(path).glob("*.json"),
                   key=lambda f: tuple(int(p) for p in f.stem.split(".")))
    if not files:
        return None
    return files[-1].stem, json.loads(files[-1].read_text())


def check_against_release(current: dict[str, Any], path: Path | None = None) -> list[str]:
    release = last_release(path)
    return [] if release is None else breaking_changes(release[1], current)


def release(current: dict[str, Any], version: str, path: Path | None = None) -> Path:
    """Record `current` as released `version`; refuses a breaking change and an existing
    version (a release is never replaced)."""
    problems = check_against_release(current, path)
    if problems:
        raise ValueError("breaking change(s) against the last release:\n" + "\n".join(problems))
    target = releases_dir(path) / f"{version}.json"
    if target.exists():
        raise ValueError(f"{target.name} is released already; releases are never replaced")
    previous = last_release(path)
    if previous is not None and tuple(map(int, version.split("."))) <= tuple(
            map(int, previous[0].split("."))):
        raise ValueError(f"{version} is not after the last release {previous[0]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(current))
    return target


def default_path() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "docs").is_dir() and (parent / "shared").is_dir():
            return parent / "docs" / "events" / "asyncapi.json"
    return Path("docs/events/asyncapi.json")
