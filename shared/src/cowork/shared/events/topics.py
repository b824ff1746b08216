"""Logical topic names (docs/events.md). Physical names add the deployment's topic prefix."""

from __future__ import annotations

from dataclasses import dataclass

MEMBERSHIP_EVENTS = "cowork.membership.events"
MEMBERSHIP_CONTACTS = "cowork.membership.contacts"
BOOKING_EVENTS = "cowork.booking.events"
VOUCHERS_EVENTS = "cowork.vouchers.events"
NOTIFICATIONS_EVENTS = "cowork.notifications.events"
COMMUNITY_EVENTS = "cowork.community.events"
COMMUNITY_CONTACTS = "cowork.community.contacts"


def dlq_topic(service: str) -> str:
    """Each consuming service has one dead-letter topic, e.g. `cowork.vouchers.dlq`."""
    return f"cowork.{service}.dlq"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 3
    compacted: bool = False


ALL_EVENT_TOPICS = (
    TopicSpec(MEMBERSHIP_EVENTS),
    TopicSpec(MEMBERSHIP_CONTACTS, compacted=True),
    TopicSpec(BOOKING_EVENTS),
    TopicSpec(VOUCHERS_EVENTS),
    TopicSpec(NOTIFICATIONS_EVENTS),
    TopicSpec(COMMUNITY_EVENTS),
    TopicSpec(COMMUNITY_CONTACTS, compacted=True),
)


def spec_for(name: str) -> TopicSpec:
    for spec in ALL_EVENT_TOPICS:
        if spec.name == name:
            return spec
    return TopicSpec(name)
