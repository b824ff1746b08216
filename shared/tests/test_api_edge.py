"""The shared API edge on its own: bounded types, the body guard, the error body, pages."""

# No `from __future__ import annotations`: FastAPI and pydantic read these annotations.

import base64
from datetime import UTC, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from cowork.shared.api import (
    ApiDate,
    Code,
    DateOrDateTime,
    Int32,
    LongText,
    Strict,
    Text,
    decode_cursor,
    encode_cursor,
    page_in_memory,
    v1_router,
)
from cowork.shared.http import ApiError, RequestBodyGuard, install_error_handlers


class Thing(Strict):
    name: Text
    note: LongText | None = None
    seats: Int32 = 1


def _app(max_body_bytes: int | None = None) -> FastAPI:
    router = v1_router(public=True)

    @router.post("/things", status_code=201)
    async def create_thing(body: Thing) -> dict[str, str]:
        return {"name": body.name}

    @router.get("/things")
    async def things(since: Annotated[DateOrDateTime | None, Query(alias="from")] = None
                     ) -> dict[str, str | None]:
        return {"since": since.isoformat() if since else None}

    app = FastAPI()
    install_error_handlers(app)
    if max_body_bytes is not None:
        app.user_middleware.clear()
        app.add_middleware(RequestBodyGuard, max_body_bytes=max_body_bytes)
    app.include_router(router)
    return app


async def _call(app: FastAPI, method: str, path: str, **kwargs) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        return await client.request(method, path, **kwargs)


def _hidden(text: str) -> bool:
    return any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e"
               "\u2066\u2067\u2068\u2069\u200e\u200f\u061c" for c in text)


@given(st.text(min_size=1, max_size=50))
def test_text_never_stores_a_control_or_direction_character(text: str) -> None:
    try:
        stored = Thing(name=text).name
    except ValidationError:
        return
    assert not _hidden(stored), repr(stored)


@pytest.mark.parametrize("text", ["a\x00b", "a\u202eb", "a\x1bb", "a\nb", "a\u2066b", "a\x85b"])
def test_text_refuses_hidden_characters_inside(text: str) -> None:
    with pytest.raises(ValidationError):
        Thing(name=text)


def test_long_text_keeps_lines_but_not_nul() -> None:
    assert Thing(name="x", note="line one\nline two\tend").note == "line one\nline two\tend"
    with pytest.raises(ValidationError):
        Thing(name="x", note="nul\x00")


@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "1899-12-31", "0.5",
                                   "1700000000", 1700000000])
def test_dates_are_iso_and_in_range(value: object) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(ApiDate).validate_python(value)


def test_a_date_filter_is_that_days_midnight_utc() -> None:
    adapter = TypeAdapter(DateOrDateTime)
    assert adapter.validate_python("2027-03-01") == datetime(2027, 3, 1, tzinfo=UTC)
    with pytest.raises(ValidationError):
        adapter.validate_python("2027-03-01T09:00:00")  # no offset
    with pytest.raises(ValidationError):
        adapter.validate_python("9999-12-31T23:59:59-14:00")


async def test_the_body_cap_is_configurable_and_counts_streamed_bodies() -> None:
    app = _app(max_body_bytes=2048)
    small = await _call(app, "POST", "/v1/things", json={"name": "desk"})
    assert small.status_code == 201
    large = await _call(app, "POST", "/v1/things", json={"name": "x" * 3000})
    assert large.status_code == 413

    async def chunks():
        for _ in range(10):
            yield b" " * 500

    streamed = await _call(app, "POST", "/v1/things", content=chunks(),
                           headers={"content-type": "application/json"})
    assert streamed.status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
async def test_a_body_that_is_not_json_is_415(content_type: str) -> None:
    response = await _call(_app(), "POST", "/v1/things", content=b'{"name": "desk"}',
                           headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


async def test_json_with_a_charset_or_a_json_suffix_is_accepted() -> None:
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = await _call(_app(), "POST", "/v1/things", content=b'{"name": "desk"}',
                               headers={"content-type": content_type})
        assert response.status_code == 201, content_type


async def test_validation_errors_name_dotted_fields_without_pydantic_prefixes() -> None:
    response = await _call(_app(), "POST", "/v1/things", json={"name": "a\u202eb", "seats": 2**31})
    error = response.json()["error"]
    assert response.status_code == 422
    assert error["field"] == "name"
    assert {p["field"] for p in error["problems"]} == {"name", "seats"}
    assert not any(p["reason"].startswith("Value error") for p in error["problems"])


async def test_malformed_json_has_a_null_field() -> None:
    response = await _call(_app(), "POST", "/v1/things", content=b'{"name": ',
                           headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["field"] is None


async def test_a_missing_body_names_the_body() -> None:
    response = await _call(_app(), "POST", "/v1/things")
    error = response.json()["error"]
    assert response.status_code == 422
    assert (error["field"], error["message"]) == ("body", "body: the request needs a JSON body")


def test_codes_are_taken_in_either_case_and_kept_lower_case() -> None:
    class Plan(Strict):
        code: Code

    assert Plan(code="FLEX-10").code == "flex-10"
    with pytest.raises(ValidationError):
        Plan(code="flex 10")


async def test_numbers_are_not_read_as_timestamps_in_filters() -> None:
    assert (await _call(_app(), "GET", "/v1/things", params={"from": "0.5"})).status_code == 422
    ok = await _call(_app(), "GET", "/v1/things", params={"from": "2027-03-01"})
    assert ok.json() == {"since": "2027-03-01T00:00:00+00:00"}


def test_pages_in_memory_cover_the_list_once() -> None:
    items, seen, cursor = list(range(7)), [], None
    while True:
        page = page_in_memory(items, cursor, 3)
        seen += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == items


@pytest.mark.parametrize("cursor", ["not base64!", encode_cursor("a", "b"), "e30="])
def test_a_cursor_we_did_not_give_out_is_422(cursor: str) -> None:
    with pytest.raises(ApiError) as raised:
        decode_cursor(cursor, 1)
    assert raised.value.status == 422 and raised.value.field == "cursor"




def _forged(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize("cursor", [
    _forged(b'["\xc2\xb2"]'),                      # a superscript two: isdigit(), not int()
    _forged(b'["\xd9\xa3"]'),                      # an Arabic-Indic three
    _forged(b"null"), _forged(b"[]"), _forged(b'["1", "2"]'), _forged(b"[5]"),
    _forged(b"[" * 5000 + b"]" * 5000),            # deeper than the JSON decoder recurses
], ids=["superscript", "arabic-indic", "null", "empty", "two parts", "a number", "deep"])
def test_a_forged_in_memory_cursor_is_422_never_a_crash(cursor: str) -> None:
    """Issue 19 case 11: a cursor that decodes to JSON of another shape is the client's
    mistake (422 naming `cursor`), whichever list reads it."""
    with pytest.raises(ApiError) as raised:
        page_in_memory(list(range(7)), cursor, 3)
    assert raised.value.status == 422 and raised.value.field == "cursor"
