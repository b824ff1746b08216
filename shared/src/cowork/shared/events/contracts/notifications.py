"""Events the notifications service publishes on cowork.notifications.events: the outcome of
each notification, never its address or content."""

from __future__ import annotations

from typing import ClassVar, Literal
from uuid import UUID

from pydantic import Field

from cowork.shared.events import topics
from cowork.shared.events.contracts.base import DomainEvent


class _NotificationEvent(DomainEvent):
    topic: ClassVar[str] = topics.NOTIFICATIONS_EVENTS
    key_field: ClassVar[str] = "notification_id"
    notification_id: UUID
    channel: Literal["email", "webhook"]
    template: str
    cause_event_id: UUID
    recipient_ref: str  # a member id or a subscription id, never an address
    attempts: int = Field(ge=0)


class NotificationSent(_NotificationEvent):
    event_type: ClassVar[str] = "cowork.notifications.notification.sent.v1"


class NotificationFailed(_NotificationEvent):
    event_type: ClassVar[str] = "cowork.notifications.notification.failed.v1"
