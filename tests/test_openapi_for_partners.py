"""The OpenAPI documents a partner generates a client from: typed bodies, every error with the
`{"error": {...}}` body (422 included), stable operation ids, /metrics as text."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as create_booking
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as create_membership
from cowork.vouchers.app import VouchersSettings
from cowork.vouchers.app import create_app as create_vouchers

# The operation ids clients are generated with: renaming one breaks every partner's code.
STABLE_OPERATION_IDS = {
    "membership": {"register", "read_member", "change_member", "erase", "add_person",
                   "list_people", "remove_person", "plans", "create_plan", "retire_plan", "buy",
                   "memberships", "read_membership", "renew", "suspend", "reinstate", "cancel",
                   "search_members"},
    "booking": {"create_space", "spaces", "space", "create_resource", "resources",
                "availability", "create_booking", "create_series", "list_bookings",
                "read_booking", "cancel", "check_in", "join_waitlist", "change_space",
                "close_space", "closures", "change_resource", "read_resource", "list_waitlist",
                "withdraw", "cancel_series", "occupancy", "agenda", "check_in_at_desk",
                "no_shows"},
}


def _spec(service: str) -> dict[str, Any]:
    if service in MORE_SERVICES:
        return MORE_SERVICES[service]().openapi()
    if service == "membership":
        return create_membership(MembershipSettings()).openapi()
    return create_booking(BookingSettings()).openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if path.startswith("/v1/")]


@pytest.mark.parametrize("service", ["membership", "booking"])
def test_operation_ids_are_the_stable_function_names(service: str) -> None:
    ids = [op["operationId"] for _, _, op in _operations(_spec(service))]
    assert len(ids) == len(set(ids)), "operation ids are unique"
    assert STABLE_OPERATION_IDS[service] <= set(ids)


@pytest.mark.parametrize("service", ["membership", "booking"])
def test_every_success_has_a_typed_body(service: str) -> None:
    spec = _spec(service)
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            schema = response["content"]["application/json"]["schema"]
            assert "$ref" in schema, f"{method} {path} {status} answers a free-form {schema}"
            name = schema["$ref"].rsplit("/", 1)[1]
            properties = spec["components"]["schemas"][name].get("properties", {})
            assert properties, f"{method} {path}: {name} documents no field"


@pytest.mark.parametrize("service", ["membership", "booking"])
def test_every_error_status_answers_the_error_body(service: str) -> None:
    spec = _spec(service)
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, op in _operations(spec):
        statuses = set(op["responses"])
        assert {"401", "403", "422"} <= statuses or (method == "post" and path == "/v1/members")
        assert "422" in statuses
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(error["required"])
    assert "field" in error["properties"]


@pytest.mark.parametrize("service", ["membership", "booking"])
def test_lists_are_pages_with_a_cursor_and_a_limit(service: str) -> None:
    spec = _spec(service)
    lists = [(path, op) for path, method, op in _operations(spec)
             if method == "get" and "Page_" in str(op["responses"]["200"])]
    assert lists
    for path, op in lists:
        assert {"cursor", "limit"} <= {p["name"] for p in op.get("parameters", [])}, path


@pytest.mark.parametrize("service", ["membership", "booking"])
def test_metrics_are_documented_as_text(service: str) -> None:
    content = _spec(service)["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [media.split(";")[0] for media in content] == ["text/plain"]


# ---------------------------------------------------------------- notifications
# Its own functions (issue 18): its two lists (webhooks, the delivery log) are plain arrays, as
# docs/api/ gives them, not pages; everything else is held to the same rules as above.

NOTIFICATIONS_OPERATION_IDS = {"create_webhook", "list_webhooks", "delete_webhook",
                               "rotate_webhook_secret", "deliveries", "read_delivery", "replay",
                               "set_preferences", "get_preferences", "jobs",
                               "retry_job"}  # jobs: the reminders


def _notifications_spec() -> dict[str, Any]:
    from cowork.notifications.app import NotificationsSettings
    from cowork.notifications.app import create_app as create_notifications

    return create_notifications(NotificationsSettings()).openapi()


def test_notifications_operation_ids_are_the_stable_function_names() -> None:
    ids = [op["operationId"] for _, _, op in _operations(_notifications_spec())]
    assert len(ids) == len(set(ids)), "operation ids are unique"
    assert set(ids) == NOTIFICATIONS_OPERATION_IDS


def test_notifications_every_success_has_a_typed_body() -> None:
    spec = _notifications_spec()
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith("2") or status == "204":
                continue
            schema = response["content"]["application/json"]["schema"]
            schema = schema["items"] if schema.get("type") == "array" else schema
            assert "$ref" in schema, f"{method} {path} {status} answers a free-form {schema}"
            name = schema["$ref"].rsplit("/", 1)[1]
            properties = spec["components"]["schemas"][name].get("properties", {})
            assert properties, f"{method} {path}: {name} documents no field"


def test_notifications_every_error_status_answers_the_error_body() -> None:
    spec = _notifications_spec()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, method, op in _operations(spec):
        assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


def test_notifications_metrics_are_documented_as_text() -> None:
    content = _notifications_spec()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert [media.split(";")[0] for media in content] == ["text/plain"]
# ---------------------------------------------------------------- vouchers
# The checks above, for vouchers: a parametrisation of its own, so that each service's
# addition merges without touching the others' lines.

MORE_SERVICES: dict[str, Callable[[], FastAPI]] = {
    "vouchers": lambda: create_vouchers(VouchersSettings())}
STABLE_OPERATION_IDS["vouchers"] = {
    "open_programme", "programmes", "programme", "close", "ledger", "apply",
    "programme_applications", "applications", "application", "vouchers", "voucher", "revoke",
    "declare_partita_iva", "statement", "issue_statement", "programme_beneficiaries",
    "transparency", "de_minimis", "accredit", "accredited_spaces", "end_accreditation",
    "audit", "jobs", "retry_job"}  # the operators' jobs API, on every service with scheduled jobs
VOUCHERS_CHECKS = [test_operation_ids_are_the_stable_function_names,
                   test_every_success_has_a_typed_body,
                   test_every_error_status_answers_the_error_body,
                   test_lists_are_pages_with_a_cursor_and_a_limit,
                   test_metrics_are_documented_as_text]


@pytest.mark.parametrize("check", VOUCHERS_CHECKS, ids=[c.__name__ for c in VOUCHERS_CHECKS])
def test_vouchers(check: Callable[[str], None]) -> None:
    check("vouchers")


def test_every_vouchers_operation_is_checked() -> None:
    ids = {op["operationId"] for _, _, op in _operations(_spec("vouchers"))}
    assert ids == STABLE_OPERATION_IDS["vouchers"]
