"""The smaller API findings of issue 20, on the shared edge: the role is checked before the
input, invisible-only text is refused, JSON types are not coerced, the 405's `allow` names
every method of the path, and the OpenAPI says what the code enforces (400, text patterns)."""

# No `from __future__ import annotations`: FastAPI and pydantic read these annotations.

import re
from datetime import date
from typing import Annotated, Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import ValidationError

from cowork.shared.api import ApiDate, Cents, LongText, SearchText, Strict, Text, v1_router
from cowork.shared.auth import Authenticator, StaffCaller, issue_token
from cowork.shared.http import install_error_handlers

SECRET = "test-secret-of-enough-length-for-hs256"


class Plan(Strict):
    name: Text
    stackable: bool = False
    min_desks: int | None = None
    price_cents: Cents = 0
    starts_on: ApiDate | None = None
    owner: UUID | None = None
    note: LongText | None = None


def _app() -> FastAPI:
    router = v1_router(tags=["things"])

    @router.get("/things")
    async def search_things(caller: StaffCaller,
                            q: Annotated[SearchText | None, Query()] = None) -> dict[str, Any]:
        return {"q": q}

    @router.post("/things", status_code=201)
    async def create_thing(body: Plan, caller: StaffCaller) -> dict[str, Any]:
        return {"name": body.name}

    @router.delete("/things/{thing_id}", status_code=204)
    async def delete_thing(thing_id: UUID, caller: StaffCaller) -> None:
        return None

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: UUID, caller: StaffCaller) -> dict[str, Any]:
        return {}

    app = FastAPI()
    app.state.authenticator = Authenticator(SECRET, audience="membership")
    install_error_handlers(app)
    app.include_router(router)
    return app


async def _call(method: str, path: str, role: str = "staff", **kwargs: Any) -> httpx.Response:
    token = issue_token(SECRET, sub="00000000-0000-4000-8000-000000000001", roles=[role])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()),
                                 base_url="http://t") as client:
        return await client.request(method, path, headers={"Authorization": f"Bearer {token}"},
                                    **kwargs)


async def test_a_wrong_role_is_403_before_the_input_is_read() -> None:
    """A member probing a staff endpoint learns nothing about what it validates."""
    assert (await _call("GET", "/v1/things", "member", params={"q": "\x00"})).status_code == 403
    assert (await _call("POST", "/v1/things", "member", json={"stackable": 0})).status_code == 403
    assert (await _call("GET", "/v1/things", "staff", params={"q": "\x00"})).status_code == 422


@pytest.mark.parametrize("name", ["\u200b", "\u200b\u200c\u2060", " \u200d ", "\u00ad"])
def test_a_name_of_invisible_characters_only_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="visible"):
        Plan(name=name)
    assert Plan(name="Anna\u200dMaria").name == "Anna\u200dMaria"  # a joiner inside is fine


@pytest.mark.parametrize(("field", "value"), [
    ("stackable", 0), ("stackable", 1), ("stackable", "true"), ("stackable", "yes"),
    ("min_desks", "3"), ("min_desks", 3.0), ("min_desks", True), ("price_cents", "100"),
    ("price_cents", False),
])
def test_json_types_are_not_coerced(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as raised:
        Plan.model_validate({"name": "Desk", field: value})
    assert raised.value.errors()[0]["loc"] == (field,)


def test_strict_types_still_read_dates_and_ids_from_json_text() -> None:
    plan = Plan.model_validate({"name": "Desk", "stackable": True, "min_desks": 3,
                                "starts_on": "2027-03-01",
                                "owner": "00000000-0000-4000-8000-000000000001"})
    assert plan.starts_on == date(2027, 3, 1) and plan.min_desks == 3 and plan.stackable


async def test_405_allows_every_method_of_the_path() -> None:
    response = await _call("PUT", "/v1/things")
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    one = await _call("PATCH", "/v1/things/00000000-0000-4000-8000-000000000001")
    assert set(one.headers["allow"].replace(" ", "").split(",")) == {"GET", "DELETE"}


def test_the_openapi_documents_400_and_the_text_patterns() -> None:
    spec = _app().openapi()
    post = spec["paths"]["/v1/things"]["post"]
    assert "400" in post["responses"]
    plan = spec["components"]["schemas"]["Plan"]["properties"]
    name_pattern = plan["name"]["pattern"]
    note_pattern = plan["note"]["anyOf"][0]["pattern"]
    assert re.fullmatch(name_pattern, "Anna Maria") and not re.search(name_pattern, "a\x00b")
    assert not re.search(name_pattern, "a\nb") and not re.search(name_pattern, "a\u202eb")
    assert re.fullmatch(note_pattern, "line one\nline two") and not re.search(note_pattern, "\x07")
