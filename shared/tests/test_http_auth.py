"""The HTTP conventions: JWT auth (401/403), roles, a member's own data, the JSON error format."""

# No `from __future__ import annotations` here: FastAPI must resolve the locally defined
# `Caller` alias at runtime.


from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from pydantic import BaseModel, Field

from cowork.shared.auth import (
    Authenticator,
    Principal,
    issue_token,
    require_roles,
    require_self_or_roles,
)
from cowork.shared.http import conflict, health_router, install_error_handlers

SECRET = "test-secret-of-enough-length-for-hs256"
M1 = "00000000-0000-4000-8000-000000000001"
M2 = "00000000-0000-4000-8000-000000000002"


class NewThing(BaseModel):
    name: str = Field(min_length=1)
    seats: int = Field(ge=1)


def _app() -> FastAPI:
    auth = Authenticator(SECRET, audience="membership")
    Caller = Annotated[Principal, Depends(auth.principal())]
    router = APIRouter(prefix="/v1")

    @router.get("/members/{member_id}")
    async def read_member(member_id: str, caller: Caller) -> dict[str, str]:
        require_self_or_roles(caller, member_id, "staff")
        return {"id": member_id}

    @router.post("/things", status_code=201)
    async def create_thing(body: NewThing, caller: Caller) -> dict[str, str]:
        require_roles(caller, "staff")
        if body.name == "taken":
            raise conflict("name_taken", "a thing with that name exists", field="name")
        return {"name": body.name}

    @router.get("/boom")
    async def boom(caller: Caller) -> None:
        raise RuntimeError("database password is hunter2")

    async def ok() -> None:
        return None

    app = FastAPI()
    install_error_handlers(app)
    app.include_router(health_router({"db": ok}))
    app.include_router(router)
    return app


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def _bearer(**kwargs) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SECRET, **kwargs)}"}


async def test_health_endpoints_need_no_token(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).status_code == 200
    assert (await client.get("/readyz")).json()["status"] == "ok"
    assert "python_info" in (await client.get("/metrics")).text


async def test_missing_token_is_401_in_the_error_format(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/members/{M1}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize("token", [
    "not-a-jwt",
    issue_token("another-secret-of-enough-length-for-hs256", sub=M1, roles=["member"]),
])
async def test_forged_or_garbage_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    response = await client.get(f"/v1/members/{M1}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_expired_token_is_401(client: httpx.AsyncClient) -> None:
    headers = _bearer(sub=M1, roles=["member"], now=datetime.now(UTC) - timedelta(days=2),
                      ttl=timedelta(hours=1))
    response = await client.get(f"/v1/members/{M1}", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_member_reads_own_data_but_not_someone_elses(client: httpx.AsyncClient) -> None:
    headers = _bearer(sub=M1, roles=["member"])
    assert (await client.get(f"/v1/members/{M1}", headers=headers)).status_code == 200
    response = await client.get(f"/v1/members/{M2}", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_staff_reads_anyone(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/v1/members/{M2}", headers=_bearer(sub="s1", roles=["staff"]))
    assert response.status_code == 200


async def test_wrong_role_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/things", json={"name": "desk", "seats": 1},
                                 headers=_bearer(sub=M1, roles=["member"]))
    assert response.status_code == 403


async def test_validation_error_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/things", json={"name": "desk", "seats": 0},
                                 headers=_bearer(sub="s1", roles=["staff"]))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "seats"
    assert "greater than or equal to 1" in error["message"]


async def test_malformed_json_is_422_not_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/things", content=b"{nope",
                                 headers={**_bearer(sub="s1", roles=["staff"]),
                                          "content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_conflict_is_409_with_code_and_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/things", json={"name": "taken", "seats": 2},
                                 headers=_bearer(sub="s1", roles=["staff"]))
    assert response.status_code == 409
    assert response.json() == {"error": {"code": "name_taken", "field": "name",
                                         "message": "a thing with that name exists"}}


async def test_unknown_path_is_404_in_the_error_format(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_unexpected_failure_is_500_and_leaks_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/boom", headers=_bearer(sub="s1", roles=["staff"]))
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert response.json()["error"]["code"] == "internal"


def test_tokens_carry_only_known_roles() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        issue_token(SECRET, sub="x", roles=["admin"])


def test_local_tokens_keep_one_subject_per_role(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`cowork token --role partner` twice is the same partner: what one token created, the
    next finds. A member's token still needs the member's id."""
    import jwt

    from cowork.shared import cli

    monkeypatch.setenv("COWORK_ENV", "local")

    def subject(*argv: str) -> str:
        assert cli.main(["token", *argv]) == 0
        token = capsys.readouterr().out.strip()
        return str(jwt.decode(token, options={"verify_signature": False})["sub"])

    assert subject("--role", "partner") == subject("--role", "partner")
    assert subject("--role", "partner") != subject("--role", "staff")
    assert subject("--role", "partner", "--sub", "p-42") == "p-42"
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "member"])


# -- one token, one service: the audience (issue 20, point 13)


def _claims(**extra: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {"sub": "s1", "roles": ["staff"], "iss": "cowork", "iat": now,
            "exp": now + timedelta(hours=1), **extra}


@pytest.mark.parametrize("claims", [
    pytest.param(_claims(), id="no-aud"),
    pytest.param(_claims(aud="vouchers"), id="another-service"),
    pytest.param(_claims(aud=["booking", "vouchers"]), id="other-services"),
])
async def test_an_hs256_token_for_another_service_or_none_is_401(
        client: httpx.AsyncClient, claims: dict[str, object]) -> None:
    """A token minted for vouchers (or for nobody) does not open membership."""
    import jwt

    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await client.get(f"/v1/members/{M2}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_token"


async def test_a_token_naming_this_service_among_others_is_accepted(
        client: httpx.AsyncClient) -> None:
    one = issue_token(SECRET, sub="s1", roles=["staff"], audience="membership")
    several = issue_token(SECRET, sub="s1", roles=["staff"], audience=["booking", "membership"])
    for token in (one, several):
        response = await client.get(f"/v1/members/{M2}",
                                    headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text


def test_cowork_token_names_the_audiences_asked_for(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --audience a local token is for every service of the stack (the examples and
    tests talk to all four with one token); --audience narrows it."""
    import jwt

    from cowork.shared import cli
    from cowork.shared.auth import SERVICE_AUDIENCES

    monkeypatch.setenv("COWORK_ENV", "local")

    def audience(*argv: str) -> object:
        assert cli.main(["token", "--role", "staff", *argv]) == 0
        token = capsys.readouterr().out.strip()
        return jwt.decode(token, options={"verify_signature": False})["aud"]

    assert sorted(audience()) == sorted(SERVICE_AUDIENCES)  # type: ignore[arg-type]
    assert audience("--audience", "vouchers") == "vouchers"
    with pytest.raises(SystemExit):
        cli.main(["token", "--role", "staff", "--audience", "elsewhere"])
