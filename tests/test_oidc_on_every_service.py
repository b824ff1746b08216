"""OpenID Connect on every service, as README and partners.md promise: each real app, started
with `COWORK_OIDC_ISSUER` pointing at a local identity provider (discovery document and JWKS
over HTTP), accepts that issuer's RS256 and ES256 tokens, still accepts the deployment's HS256
tokens, and refuses a token of another issuer or audience with a 401.

The apps are the services' own (`create_app`), started with their lifespan on real Kafka and
PostgreSQL: a test-only app would not catch a service that builds its own authenticator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from cryptography.fernet import Fernet

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as create_booking
from cowork.devtools import Infra
from cowork.devtools.identity import JwksServer
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as create_membership
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as create_notifications
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET
from cowork.vouchers.app import VouchersSettings
from cowork.vouchers.app import create_app as create_vouchers

pytestmark = [pytest.mark.infra]

# Each service, how to build it, and a list a staff member may read.
SERVICES: dict[str, tuple[type[Any], Callable[..., Any], str]] = {
    "membership": (MembershipSettings, create_membership, "/v1/plans"),
    "booking": (BookingSettings, create_booking, "/v1/spaces"),
    "vouchers": (VouchersSettings, create_vouchers, "/v1/programmes"),
    "notifications": (NotificationsSettings, create_notifications, "/v1/deliveries"),
}


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    with JwksServer() as server:
        server.add_key("rsa-1", "RS256")
        server.add_key("ec-1", "ES256")
        yield server


@pytest.mark.parametrize("service", list(SERVICES))
async def test_every_service_accepts_the_issuers_rs256_and_es256_tokens(
        service: str, idp: JwksServer, infra: Infra, database_url: str,
        topic_prefix: str) -> None:
    settings_class, create_app, staff_list = SERVICES[service]
    settings = settings_class(
        database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=topic_prefix, run_scheduler=False, log_json=False,
        environment="production", jwt_secret=LOCAL_DEV_JWT_SECRET,
        oidc_issuer=idp.issuer, oidc_roles_claim="realm_access.roles",
        # notifications encrypts the webhooks' secrets with a key from a Secret
        **({"webhook_secret_keys": Fernet.generate_key().decode()}
           if service == "notifications" else {}))
    app = create_app(settings)
    staff = str(uuid4())
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://t") as client:

        async def read_as(token: str) -> httpx.Response:
            return await client.get(staff_list, headers={"Authorization": f"Bearer {token}"})

        for kid in ("rsa-1", "ec-1"):
            answer = await read_as(idp.token(kid, sub=staff, roles=["staff", "officer",
                                                                    "operator"],
                                             audience=service))
            assert answer.status_code == 200, (kid, answer.text)

        hs256 = issue_token(LOCAL_DEV_JWT_SECRET, sub=staff, roles=["staff", "officer",
                                                                    "operator"])
        assert (await read_as(hs256)).status_code == 200

        stranger = idp.token("rsa-1", sub=staff, roles=["staff"], audience=service,
                             issuer="http://127.0.0.1:1/realms/other")
        refused = await read_as(stranger)
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_token"

        elsewhere = await read_as(idp.token("ec-1", sub=staff, roles=["staff"],
                                            audience="another-service"))
        assert elsewhere.status_code == 401, elsewhere.text

