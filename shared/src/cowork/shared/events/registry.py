"""One registry from CloudEvents type to payload model."""

from __future__ import annotations

from cowork.shared.events.contracts import ALL_EVENTS, DomainEvent

REGISTRY: dict[str, type[DomainEvent]] = {model.event_type: model for model in ALL_EVENTS}

if len(REGISTRY) != len(ALL_EVENTS):  # pragma: no cover - a programming error at import
    raise RuntimeError("two event models share a ce_type")


def model_for(event_type: str) -> type[DomainEvent] | None:
    return REGISTRY.get(event_type)


def register(model: type[DomainEvent]) -> type[DomainEvent]:
    """Add a type outside the v1 catalogue (tests, a service's private events)."""
    existing = REGISTRY.get(model.event_type)
    if existing is not None and existing is not model:
        raise ValueError(f"{model.event_type} is already registered to {existing.__name__}")
    REGISTRY[model.event_type] = model
    return model
