"""Identity as operators run it: no silent development secret outside the local stack, and
OpenID Connect tokens verified against a real JWKS endpoint, including a key rotation."""

# No `from __future__ import annotations`: FastAPI resolves the `Caller` alias at runtime.

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Depends, FastAPI
from pydantic import ValidationError

from cowork.devtools import free_port
from cowork.devtools.identity import JwksServer
from cowork.shared.auth import Authenticator, Principal, issue_token, require_roles
from cowork.shared.http import install_error_handlers
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET, ServiceSettings


@pytest.fixture
def idp() -> Iterator[JwksServer]:
    server = JwksServer()
    server.add_key("k1")
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def _app(settings: ServiceSettings) -> FastAPI:
    Caller = Annotated[Principal, Depends(Authenticator.from_settings(settings).principal())]
    router = APIRouter(prefix="/v1")

    @router.get("/whoami")
    async def whoami(caller: Caller) -> dict[str, Any]:
        require_roles(caller, "staff", "member")
        return {"sub": caller.sub, "roles": sorted(caller.roles)}

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    return app


def _settings(idp: JwksServer, **extra: Any) -> ServiceSettings:
    values = {"environment": "production", "service_name": "booking",
              "oidc_issuer": idp.issuer, "oidc_roles_claim": "realm_access.roles", **extra}
    return ServiceSettings(**values)


async def _whoami(app: FastAPI, token: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        return await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})


# -- the development secret


def test_outside_the_local_stack_a_missing_secret_stops_the_service_naming_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COWORK_ENV", raising=False)
    monkeypatch.delenv("COWORK_JWT_SECRET", raising=False)
    with pytest.raises(ValidationError, match="COWORK_JWT_SECRET"):
        ServiceSettings()
    monkeypatch.setenv("COWORK_ENV", "staging")
    with pytest.raises(ValidationError, match="COWORK_JWT_SECRET"):
        ServiceSettings()


def test_the_local_stack_uses_the_development_secret_and_a_set_secret_wins(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COWORK_ENV", "local")
    monkeypatch.delenv("COWORK_JWT_SECRET", raising=False)
    assert ServiceSettings().jwt_secret.get_secret_value() == LOCAL_DEV_JWT_SECRET
    monkeypatch.setenv("COWORK_ENV", "production")
    monkeypatch.setenv("COWORK_JWT_SECRET", "a-production-secret-of-enough-length")
    assert ServiceSettings().jwt_secret.get_secret_value() == "a-production-secret-of-enough-length"


@pytest.mark.parametrize("secret", ["short", "x" * 31, "é" * 15])
def test_an_hs256_secret_under_32_bytes_stops_the_service_naming_it(
        monkeypatch: pytest.MonkeyPatch, secret: str) -> None:
    """A short HMAC key can be brute-forced offline from any one token (RFC 7518 3.2 asks for
    at least the hash's size, 32 bytes); counted in bytes, as HMAC sees it."""
    for environment in ("production", "local"):
        monkeypatch.setenv("COWORK_ENV", environment)
        monkeypatch.setenv("COWORK_JWT_SECRET", secret)
        with pytest.raises(ValidationError, match=r"COWORK_JWT_SECRET.*32 bytes"):
            ServiceSettings()
    monkeypatch.setenv("COWORK_JWT_SECRET", "x" * 32)
    assert ServiceSettings().jwt_secret.get_secret_value() == "x" * 32


async def test_with_only_oidc_configured_no_hs256_token_is_accepted(idp: JwksServer) -> None:
    settings = _settings(idp)
    assert settings.jwt_secret.get_secret_value() == ""
    dev = issue_token(LOCAL_DEV_JWT_SECRET, sub="s1", roles=["staff"])
    response = await _whoami(_app(settings), dev)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


# -- OpenID Connect


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
async def test_an_oidc_token_is_verified_against_the_issuers_jwks(idp: JwksServer,
                                                                  alg: str) -> None:
    idp.add_key("k-" + alg, alg)
    member = str(uuid4())
    response = await _whoami(_app(_settings(idp)),
                             idp.token("k-" + alg, sub=member, roles=["member"]))
    assert response.status_code == 200, response.text
    assert response.json() == {"sub": member, "roles": ["member"]}


@pytest.mark.parametrize(("change", "code"), [
    ({"audience": "membership"}, "invalid_token"),
    ({"issuer": "http://evil.example/realms/comune"}, "invalid_token"),
    ({"ttl": timedelta(minutes=-5)}, "token_expired"),
])
async def test_the_issuer_audience_and_expiry_are_required(idp: JwksServer, change: dict,
                                                            code: str) -> None:
    response = await _whoami(_app(_settings(idp)),
                             idp.token("k1", sub="staff-1", roles=["staff"], **change))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


async def test_the_roles_claim_is_configurable(idp: JwksServer) -> None:
    token = idp.token("k1", sub="staff-1", roles=["staff"], roles_at="resource_access")
    assert (await _whoami(_app(_settings(idp)), token)).status_code == 403
    settings = _settings(idp, oidc_roles_claim="resource_access.roles")
    assert (await _whoami(_app(settings), token)).status_code == 200


async def test_a_token_signed_by_an_unknown_key_is_401(idp: JwksServer) -> None:
    stranger = JwksServer()
    stranger.add_key("k1")
    token = stranger.token("k1", sub="staff-1", roles=["staff"])
    # Same kid, another key: the signature does not verify.
    forged = jwt.encode({**jwt.decode(token, options={"verify_signature": False})},
                        stranger.keys["k1"][1], algorithm="RS256", headers={"kid": "k1"})
    response = await _whoami(_app(_settings(idp)), forged)
    assert response.status_code == 401
    stranger.httpd.server_close()


async def test_keys_are_cached_and_fetched_again_on_rotation(idp: JwksServer) -> None:
    app = _app(_settings(idp, oidc_jwks_refresh_cooldown_seconds=0))
    for _ in range(3):
        response = await _whoami(app, idp.token("k1", sub="staff-1", roles=["staff"]))
        assert response.status_code == 200
    assert idp.jwks_requests == 1, "the JWKS is cached between requests"

    idp.add_key("k2")  # the provider rotates: a new key, tokens now signed with it
    del idp.keys["k1"]
    response = await _whoami(app, idp.token("k2", sub="staff-1", roles=["staff"]))
    assert response.status_code == 200, response.text
    assert idp.jwks_requests == 2, "an unknown kid fetches the JWKS again"

    unknown = JwksServer()
    unknown.add_key("k9")
    response = await _whoami(app, unknown.token("k9", sub="staff-1", roles=["staff"],
                                                issuer=idp.issuer))
    assert response.status_code == 401
    unknown.httpd.server_close()


async def test_an_unreachable_provider_is_503_not_500() -> None:
    port = free_port()
    settings = ServiceSettings(environment="production", service_name="booking",
                               oidc_issuer=f"http://127.0.0.1:{port}/realms/x")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode({"sub": "s", "aud": "booking", "iss": settings.oidc_issuer,
                        "exp": datetime.now(UTC) + timedelta(minutes=5)}, key,
                       algorithm="RS256", headers={"kid": "k"})
    response = await _whoami(_app(settings), token)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "identity_provider_unavailable"


async def test_an_oidc_member_whose_sub_is_not_a_uuid_is_401(idp: JwksServer) -> None:
    response = await _whoami(_app(_settings(idp)),
                             idp.token("k1", sub="f:realm:giulia", roles=["member"]))
    assert response.status_code == 401


async def test_made_up_key_ids_do_not_hammer_the_provider(idp: JwksServer) -> None:
    app = _app(_settings(idp))
    assert (await _whoami(app, idp.token("k1", sub="s", roles=["staff"]))).status_code == 200
    for n in range(5):
        idp.add_key(f"made-up-{n}")
        token = idp.token(f"made-up-{n}", sub="s", roles=["staff"])
        assert (await _whoami(app, token)).status_code == 401
    assert idp.jwks_requests == 1, "within the cooldown an unknown kid fetches nothing"
