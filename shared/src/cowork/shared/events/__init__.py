"""Event contracts (pydantic models), the CloudEvents envelope and the type registry."""

from cowork.shared.events import contracts, topics
from cowork.shared.events.contracts import DomainEvent
from cowork.shared.events.envelope import Envelope, MalformedEvent, UnknownEventType, decode
from cowork.shared.events.registry import REGISTRY

__all__ = ["REGISTRY", "DomainEvent", "Envelope", "MalformedEvent", "UnknownEventType",
           "contracts", "decode", "topics"]
