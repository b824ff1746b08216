"""The published event catalogue stays in step with the contracts, and never breaks partners."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from cowork.shared import cli
from cowork.shared.events import catalogue as catalogue_module
from cowork.shared.events import contracts as ev
from cowork.shared.events.catalogue import (
    breaking_changes,
    build_catalogue,
    check_against_release,
    default_path,
    last_release,
    release,
    render,
)
from cowork.shared.events.envelope import Envelope, MalformedEvent, decode, headers_to_dict


def _published() -> dict:
    return json.loads(default_path().read_text())


def test_current_contracts_do_not_break_the_last_release() -> None:
    released = last_release()
    assert released is not None, "docs/events/released/ holds the released catalogues"
    problems = breaking_changes(released[1], build_catalogue())
    assert problems == [], "breaking change(s) — publish a .v2 type instead:\n" + "\n".join(problems)


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
                         "cowork.notifications.events", "cowork.community.events",
                         "cowork.community.contacts"}


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
    assert any("amount_cents changed what it accepts" in p for p in problems)
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


# -- compatibility means what consumers do: they validate strictly and dead-letter the rest


def _activated_record(**changes: object) -> tuple[dict[str, str], bytes]:
    event = ev.MembershipActivated(
        membership_id=uuid.uuid4(), member_id=uuid.uuid4(), plan_code="monthly",
        plan_kind="monthly", resource_kinds=["hot_desk"], period_start=date(2027, 3, 1),
        period_end=date(2027, 3, 31), price_cents=15000)
    envelope = Envelope.wrap(event, source="/cowork/membership", time=datetime.now(UTC))
    payload = {**json.loads(envelope.value() or b"{}"), **changes}
    return headers_to_dict(envelope.kafka_headers()), json.dumps(payload).encode()


def test_an_enum_gaining_a_value_is_breaking_because_a_v1_consumer_refuses_it() -> None:
    with pytest.raises(MalformedEvent):  # what a consumer of today does with the new value
        decode(*_activated_record(plan_kind="biennial"))
    current = build_catalogue()
    widened = copy.deepcopy(current)
    _schema(widened, "membership_membership_activated_v1")["properties"]["plan_kind"][
        "enum"].append("biennial")
    [problem] = breaking_changes(current, widened)
    assert problem.startswith("membership_membership_activated_v1.plan_kind changed what it accepts")


def test_a_field_becoming_nullable_is_breaking_because_a_v1_consumer_refuses_null() -> None:
    with pytest.raises(MalformedEvent):
        decode(*_activated_record(plan_code=None))
    current = build_catalogue()
    nullable = copy.deepcopy(current)
    props = _schema(nullable, "membership_membership_activated_v1")["properties"]
    props["plan_code"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert len(breaking_changes(current, nullable)) == 1


@pytest.mark.parametrize(("field", "constraint"), [
    ("price_cents", {"minimum": 1}),         # narrowed: an old producer's 0 is refused
    ("price_cents", {"minimum": -100}),      # widened: an old consumer refuses -1
    ("plan_code", {"pattern": "^[a-z]+$"}),  # a pattern appears
    ("plan_code", {"maxLength": 40}),
])
def test_any_change_of_a_fields_constraints_is_breaking(field: str, constraint: dict) -> None:
    current = build_catalogue()
    changed = copy.deepcopy(current)
    _schema(changed, "membership_membership_activated_v1")["properties"][field].update(constraint)
    [problem] = breaking_changes(current, changed)
    assert f"activated_v1.{field} changed what it accepts" in problem


def test_a_field_that_stops_being_required_is_breaking() -> None:
    current = build_catalogue()
    changed = copy.deepcopy(current)
    _schema(changed, "membership_membership_activated_v1")["required"].remove("plan_code")
    assert breaking_changes(current, changed) == [
        "membership_membership_activated_v1.plan_code is no longer required "
        "(old consumers need it)"]


def _breaking_catalogue() -> dict:
    changed = copy.deepcopy(build_catalogue())
    del _schema(changed, "booking_booking_confirmed_v1")["properties"]["price_cents"]
    return changed


def test_a_release_is_never_replaced_and_never_breaking(tmp_path: Path) -> None:
    path = tmp_path / "asyncapi.json"
    current = build_catalogue()
    release(current, "1.0.0", path)
    with pytest.raises(ValueError, match="never replaced"):
        release(current, "1.0.0", path)
    with pytest.raises(ValueError, match="breaking"):
        release(_breaking_catalogue(), "1.1.0", path)
    with pytest.raises(ValueError, match="not after"):
        release(current, "0.9.0", path)
    assert release(current, "1.1.0", path).name == "1.1.0.json"
    assert check_against_release(_breaking_catalogue(), path) != []


def test_write_refuses_a_breaking_change_and_leaves_the_baseline(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "asyncapi.json"
    release(build_catalogue(), "1.0.0", path)
    baseline = (tmp_path / "released" / "1.0.0.json").read_text()
    path.write_text(render(build_catalogue()))
    monkeypatch.setattr(catalogue_module, "default_path", lambda: path)
    monkeypatch.setattr(catalogue_module, "build_catalogue", _breaking_catalogue)
    assert cli.main(["catalogue", "--write"]) == 1
    assert path.read_text() == render(build_catalogue()), "the breaking form was not written"
    assert (tmp_path / "released" / "1.0.0.json").read_text() == baseline
    assert cli.main(["catalogue", "--check"]) == 1
