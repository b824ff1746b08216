"""What every event contract shares: the base model and the value types of several services."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class DomainEvent(BaseModel):
    """Base of every event's data. Subclasses set the three class variables."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    key_field: ClassVar[str]

    def key(self) -> str:
        return str(getattr(self, self.key_field))


Cents = int
MemberKind = Literal["person", "organisation"]
Language = Literal["it", "en"]
PlanKind = Literal["day_pass", "carnet", "monthly", "quarterly", "annual"]
ResourceKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
SourceType = Literal["booking", "membership"]
