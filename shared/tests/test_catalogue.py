"""The published event catalogue stays in step with the contracts, and never breaks partners."""

from __future__ import annotations

import copy
import json

from cowork.shared.events.catalogue import (
    breaking_changes,
    build_catalogue,
    default_path,
    render,
)


def _published() -> dict:
    return json.loads(default_path().read_text())


def test_current_contracts_do_not_break_the_published_catalogue() -> None:
    problems = breaking_changes(_published(), build_catalogue())
    assert problems == [], "breaking change(s) — publish a .v2 type instead:\n" + "\n".join(problems)


def test_published_catalogue_is_regenerated_with_the_code() -> None:
    assert default_path().read_text() == render(build_catalogue()), (
        "docs/events/asyncapi.json is stale: run `uv run cowork catalogue --write`")


def test_catalogue_lists_every_topic_of_the_spec() -> None:
    addresses = {c["address"] for c in build_catalogue()["channels"].values()}
    assert addresses == {"cowork.membership.events", "cowork.membership.contacts",
                         "cowork.booking.events", "cowork.vouchers.events",
                         "cowork.notifications.events"}


def _schema(catalogue: dict, name: str) -> dict:
    return catalogue["components"]["schemas"][name]


def test_removing_a_field_is_breaking() -> None:
    current = build_catalogue()
    changed = copy.deepcopy(current)
    del _schema(changed, "booking_booking_confirmed_v1")["properties"]["price_cents"]
    assert breaking_changes(current, changed) == [
        "booking_booking_confirmed_v1.price_cents was removed"]


def test_changing_a_type_or_adding_a_required_field_is_breaking() -> None:
    current = build_catalogue()
    changed = copy.deepcopy(current)
    schema = _schema(changed, "vouchers_voucher_granted_v1")
    schema["properties"]["amount_cents"] = {"type": "string"}
    schema["properties"]["iban"] = {"type": "string"}
    schema["required"].append("iban")
    problems = breaking_changes(current, changed)
    assert any("amount_cents changed type" in p for p in problems)
    assert "vouchers_voucher_granted_v1.iban is a new required field (make it optional)" in problems


def test_removing_a_type_is_breaking_but_adding_optional_things_is_not() -> None:
    current = build_catalogue()
    removed = copy.deepcopy(current)
    del removed["components"]["schemas"]["membership_member_erased_v1"]
    assert breaking_changes(current, removed) == [
        "event membership_member_erased_v1 was removed (publish a .v2 beside it instead)"]
    added = copy.deepcopy(current)
    _schema(added, "membership_member_erased_v1")["properties"]["note"] = {"type": "string"}
    assert breaking_changes(current, added) == []
