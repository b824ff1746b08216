"""Rule 6 for every operation every service publishes, today's and tomorrow's: without a
bearer token each one answers 401 in the error format — except what docs/api/ opens to anyone:
the probes, the Prometheus scrape, the API's own description, and self-registration (a
newcomer has no identity yet). A new endpoint that forgets its `Caller` fails here. No database
or broker is needed: the token is checked before anything else."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as create_booking
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as create_membership
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as create_notifications
from cowork.vouchers.app import VouchersSettings
from cowork.vouchers.app import create_app as create_vouchers

OPEN = {"/healthz", "/healthz/kafka", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect",
        "/redoc"}
SELF_REGISTRATION = ("POST", "/v1/members")
SOME_ID = "5f0c6a9e-1b2c-4d3e-8f70-0a1b2c3d4e5f"

APPS = {
    "membership": lambda: create_membership(MembershipSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none", log_json=False)),
    "booking": lambda: create_booking(BookingSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none", log_json=False)),
    "notifications": lambda: create_notifications(NotificationsSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none", log_json=False)),
    "vouchers": lambda: create_vouchers(VouchersSettings(
        database_url="postgresql://nobody@127.0.0.1:1/none", log_json=False)),
}


def _guarded(app: FastAPI) -> list[tuple[str, str]]:
    """Every operation the service publishes in its OpenAPI description, but the open ones."""
    return sorted((method.upper(), path) for path, operations in app.openapi()["paths"].items()
                  if path not in OPEN for method in operations
                  if (method.upper(), path) != SELF_REGISTRATION)


@pytest.mark.parametrize("service", sorted(APPS))
async def test_every_route_but_the_probes_answers_401_without_a_token(service: str) -> None:
    app = APPS[service]()
    routes = _guarded(app)
    assert len(routes) >= 8, routes  # the service's API is there, not only its probes
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://svc") as client:
        for method, path in routes:
            response = await client.request(method, re.sub(r"\{[^}]+\}", SOME_ID, path),
                                             json={})
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["code"] == "unauthenticated", (method, path)
