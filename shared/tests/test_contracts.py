"""One module of event contracts per producing service: each module's events carry its
service's name in their type and go to its topics, and the package re-exports every one."""

from __future__ import annotations

import inspect

import pytest

from cowork.shared.events import contracts
from cowork.shared.events.contracts import (
    booking,
    community,
    membership,
    notifications,
    vouchers,
)
from cowork.shared.events.contracts.base import DomainEvent


def events_of(module: object) -> list[type[DomainEvent]]:
    return [obj for name, obj in inspect.getmembers(module, inspect.isclass)
            if issubclass(obj, DomainEvent) and not name.startswith("_")
            and obj.__module__ == module.__name__]  # type: ignore[attr-defined]


@pytest.mark.parametrize("module", [membership, booking, vouchers, notifications,
                                    community],
                         ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_a_services_module_holds_its_own_events(module: object) -> None:
    service = module.__name__.rsplit(".", 1)[-1]  # type: ignore[attr-defined]
    events = events_of(module)
    assert events
    for event in events:
        assert event.event_type.startswith(f"cowork.{service}."), event.__name__
        assert event.topic.startswith(f"cowork.{service}."), event.__name__


def test_the_package_re_exports_every_event_once() -> None:
    by_module = [e for m in (membership, booking, vouchers, notifications,
                                                community) for e in events_of(m)]
    assert sorted(e.__name__ for e in by_module) == sorted(e.__name__
                                                          for e in contracts.ALL_EVENTS)
    for event in by_module:
        assert getattr(contracts, event.__name__) is event
