"""The API edge every service shares: strict request models, types bounded to what their
columns hold, the database's refusals translated into API errors (docs/api/), and one transaction
helper.

Why bounded types: PostgreSQL answers a NUL byte in `text`, an integer beyond `integer` or a
date that Python's arithmetic overflows with an exception the API would turn into a 500.
Every value is stopped here instead, with a 422 naming its field.
"""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

import base64
import contextlib
import functools
import json
import operator
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time
from types import UnionType
from typing import Annotated, Any, Generic, Protocol, TypeVar, Union, get_args, get_origin

import asyncpg
from fastapi import APIRouter, Query
from fastapi.routing import APIRoute
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import Strict as PydanticStrict

from cowork.shared.http import ApiError, conflict, invalid

INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)

# Dates the services accept anywhere: wide enough for any real membership, booking or report,
# narrow enough that adding a year or a timezone offset never overflows Python's date.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)

# Unicode "format" characters that change how text is displayed without being visible:
# bidirectional overrides and isolates (U+202E makes "gpj.exe" read "exe.jpg") and the marks.
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")


_CONTAINERS = (list, set, frozenset, tuple, dict)


def _strict_scalar(annotation: Any) -> Any:
    """`bool` and `int` made strict wherever they are (bare, in `X | None`, in
    `Annotated[...]`, as a list's items or a dict's values): JSON `0` is not false, `"3"` is
    not 3, `true` is not 1."""
    if annotation is bool or annotation is int:
        return Annotated[annotation, PydanticStrict()]
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        if inner is bool or inner is int:
            return Annotated[inner, *metadata, PydanticStrict()]
        return Annotated[_strict_scalar(inner), *metadata]
    if origin in (Union, UnionType):
        args = tuple(_strict_scalar(a) for a in get_args(annotation))
        return functools.reduce(operator.or_, args)
    if origin in _CONTAINERS:
        args = tuple(a if a is Ellipsis else _strict_scalar(a) for a in get_args(annotation))
        return origin[args]
    return annotation


class Strict(BaseModel):
    """A request body: unknown fields are refused (a typo is not silently ignored), text is
    stripped of surrounding whitespace, and booleans and integers take only JSON booleans and
    integers (pydantic's lax mode would read `0` as false and `"3"` as 3). Not pydantic's
    strict mode for the whole model: FastAPI validates the decoded JSON in Python mode, where
    strict would refuse a date or an id written as text."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Runs before pydantic reads the class's fields (its metaclass collects them after).
        # The class's own dict, changed in place (inspect.get_annotations gives a copy).
        annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
        for name, annotation in list(annotations.items()):
            if not isinstance(annotation, str):
                annotations[name] = _strict_scalar(annotation)
        super().__init_subclass__(**kwargs)


class Representation(BaseModel):
    """A response body, documented field by field in OpenAPI. Fields a representation does not
    declare are still sent (`extra="allow"`): a field added to a view is never silently lost."""

    model_config = ConfigDict(extra="allow")


def _no_hidden_characters(allow_newlines: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        for char in value:
            if char in _BIDI_CONTROLS:
                raise ValueError(f"contains the invisible direction control U+{ord(char):04X}")
            if unicodedata.category(char) == "Cc" and not (allow_newlines and char in "\n\t"):
                raise ValueError(f"contains the control character U+{ord(char):04X}")
        return value

    return check


def _something_visible(value: str) -> str:
    """A name of zero-width spaces, joiners or soft hyphens alone is blank to a person."""
    if value and all(c.isspace() or unicodedata.category(c) in _INVISIBLE for c in value):
        raise ValueError("has no visible character")
    return value


_INVISIBLE = frozenset({"Cf", "Cc", "Mn", "Me", "Zs", "Zl", "Zp"})
# What the validators refuse, published in the OpenAPI as a pattern (what a client or a
# fuzzer can check; the validators say why in the 422): C0/C1 controls and direction marks.
_FORBIDDEN = "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
ONE_LINE_PATTERN = f"^[^{_FORBIDDEN}]*$"
LINES_PATTERN = ONE_LINE_PATTERN.replace("\\u0000-\\u001f",
                                         "\\u0000-\\u0008\\u000b-\\u001f")

# One line a person reads (a name, an address): no control characters, no direction overrides,
# something visible.
Text = Annotated[str, Field(min_length=1, max_length=200,
                            json_schema_extra={"pattern": ONE_LINE_PATTERN}),
                 AfterValidator(_no_hidden_characters(allow_newlines=False)),
                 AfterValidator(_something_visible)]
# What a search box sends: like Text, but may be empty (a blank box lists everything).
SearchText = Annotated[str, Field(max_length=200, json_schema_extra={"pattern": ONE_LINE_PATTERN}),
                       AfterValidator(_no_hidden_characters(allow_newlines=False))]
# Free text (a reason, a note): lines and tabs allowed, nothing else invisible.
LongText = Annotated[str, Field(min_length=1, max_length=2000,
                                json_schema_extra={"pattern": LINES_PATTERN}),
                     AfterValidator(_no_hidden_characters(allow_newlines=True)),
                     AfterValidator(_something_visible)]
# A machine code (a plan code): letters, digits, `_` and `-` only. Letters are taken in either
# case and kept lower-case, so `MONTHLY` typed at the desk is the plan `monthly`.
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$", min_length=1,
                            max_length=40), AfterValidator(str.lower)]

Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
# Money in cents: at most ten million euros, so a price times any quantity the services
# multiply it by stays inside PostgreSQL's `integer`.
Cents = Annotated[int, Field(ge=0, le=1_000_000_000)]
# Money in `bigint` columns (a subsidy programme's budget, its caps and its ledger): at most ten
# billion euros, so sums of many such amounts stay far inside `bigint`.
BigCents = Annotated[int, Field(ge=0, le=1_000_000_000_000)]


def _date_in_range(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


def _datetime_in_range(value: datetime) -> datetime:
    # Check the wall-clock date first: converting 9999-12-31T23:59-14:00 to UTC overflows.
    _date_in_range(value.date())
    _date_in_range(value.astimezone(UTC).date())
    return value


def _iso_only(value: Any) -> Any:
    """Filters take ISO 8601 text: pydantic would read `0.5` or `1700000000` as a Unix
    timestamp, which no client means."""
    if isinstance(value, str):
        stripped = value.strip()
        if not stripped[:4].isdigit() or len(stripped) < 10 or stripped[4] != "-":
            raise ValueError("use an ISO 8601 date (2027-03-01) or date-time "
                             "(2027-03-01T09:00:00+01:00)")
    elif isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("use an ISO 8601 date or date-time, not a number")
    return value


ApiDate = Annotated[date, BeforeValidator(_iso_only), AfterValidator(_date_in_range)]
ApiDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_only),
                        AfterValidator(_datetime_in_range)]


def _date_or_datetime(value: Any) -> Any:
    """A date alone means its midnight in UTC (a filter `from=2027-03-01`)."""
    value = _iso_only(value)
    if isinstance(value, str) and len(value.strip()) == 10:
        day = _date_in_range(date.fromisoformat(value.strip()))
        return datetime.combine(day, time(0), tzinfo=UTC)
    return value


# A query filter: `2027-03-01` (midnight UTC) or a date-time with its offset.
DateOrDateTime = Annotated[AwareDatetime, BeforeValidator(_date_or_datetime),
                           AfterValidator(_datetime_in_range)]


# ---------------------------------------------------------------- errors from the database


# constraint name -> (error code, field to blame, message)
UniqueConflicts = Mapping[str, tuple[str, str | None, str]]
DomainTranslator = Callable[[Exception], ApiError | None]


def translated_errors(translate: DomainTranslator | None = None,
                      unique: UniqueConflicts | None = None
                      ) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
    """A context-manager factory: inside it a service's rule violations (through `translate`,
    which returns None for what it does not know) and PostgreSQL's refusals become the API's
    errors. Nothing is half-written: the caller's transaction rolls back as the error leaves."""
    conflicts = dict(unique or {})

    @contextlib.asynccontextmanager
    async def errors() -> AsyncIterator[None]:
        try:
            yield
        except ApiError:
            raise
        except asyncpg.UniqueViolationError as exc:
            code, field, message = conflicts.get(exc.constraint_name or "",
                                                 ("conflict", None, "conflicts with existing data"))
            raise conflict(code, message, field=field) from exc
        except asyncpg.DeadlockDetectedError as exc:
            raise ApiError(409, "concurrent_change", "a concurrent change got in the way; "
                           "nothing was changed, try again") from exc
        except (asyncpg.DataError, asyncpg.CharacterNotInRepertoireError) as exc:
            # The edge's bounds should have caught it; a 422 is still the honest answer.
            raise ApiError(422, "validation_error",
                           "a value is out of the range the service can store") from exc
        except Exception as exc:
            api_error = translate(exc) if translate is not None else None
            if api_error is None:
                raise
            raise api_error from exc

    return errors


class HasPool(Protocol):
    @property
    def db(self) -> asyncpg.Pool: ...


T = TypeVar("T")


def transactions(runtime: HasPool,
                 errors: Callable[[], contextlib.AbstractAsyncContextManager[None]]
                 ) -> Callable[[Callable[[asyncpg.Connection], Awaitable[T]]], Awaitable[T]]:
    """`in_tx(work)`: runs `work(conn)` in one transaction with the errors translated."""

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with errors(), runtime.db.acquire() as conn, conn.transaction():
            return await work(conn)

    return in_tx


# ---------------------------------------------------------------- OpenAPI


class ErrorDetail(BaseModel):
    code: str = Field(description="stable, machine-readable (e.g. `tax_code_taken`)")
    message: str = Field(description="for a person; may change between versions")
    field: str | None = Field(None, description="the dotted path of the input to blame "
                                                "(`consents.privacy`), when one is")
    problems: list[dict[str, Any]] | None = Field(
        None, description="on 422: each problem found (at most 20), `{field, reason}`")

    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    """Every error the API answers, whatever its status."""

    error: ErrorDetail


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {400: "The body cannot be read (not UTF-8)", 401: "No valid bearer token",
                    403: "The token's roles or member do not allow this",
                    404: "No such resource", 409: "Conflicts with existing state",
                    413: "Request body too large", 415: "The body is not JSON",
                    422: "Invalid input; `field` names the input to blame",
                    429: "Too many requests; `Retry-After` says in how many seconds to retry"}
    return {s: {"model": ErrorBody, "description": descriptions.get(s, "Error")}
            for s in statuses}


def operation_id(route: APIRoute) -> str:
    """The endpoint function's name: stable across path changes, and what a generated client
    names its method (`register`, `create_booking`)."""
    return route.name


def v1_router(*, public: bool = False, tags: Sequence[str] = ()) -> APIRouter:
    """A `/v1` router of a service (one per resource, `tags` naming it in OpenAPI): operation
    ids from function names, and every answer a client can get documented with the error
    body."""
    statuses = ((400, 401, 403, 404, 409, 413, 415, 422) if not public
                else (400, 404, 409, 413, 415, 422))
    return APIRouter(prefix="/v1", tags=list(tags), generate_unique_id_function=operation_id,
                     responses=error_responses(*statuses))


# ---------------------------------------------------------------- pagination


Item = TypeVar("Item")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE,
                             description=f"items per page (default {DEFAULT_PAGE_SIZE})")]
CursorParam = Annotated[str | None, Query(max_length=500, pattern=r"^[A-Za-z0-9_=-]+$",
                                          description="`next_cursor` of the previous page")]


class Page(BaseModel, Generic[Item]):
    """A list's page: `next_cursor` is null on the last page; pass it as `cursor` for the
    next one."""

    items: list[Item]
    next_cursor: str | None = None


def encode_cursor(*position: Any) -> str:
    """An opaque cursor holding the sort key of the last item given (keyset pagination)."""
    text = json.dumps([p.isoformat() if isinstance(p, date | datetime) else str(p)
                       for p in position], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(cursor: str, size: int) -> list[str]:
    """The cursor's parts, or 422 naming `cursor` for one this API did not give out."""
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: JSON nested deeper than the decoder recurses (`[[[[...]]]]`).
        raise invalid("cursor", "not a cursor this API gave out") from exc
    if not isinstance(parts, list) or len(parts) != size or not all(
            isinstance(p, str) for p in parts):
        raise invalid("cursor", "not a cursor this API gave out")
    return parts


def page_in_memory(items: Sequence[Item], cursor: str | None, limit: int) -> dict[str, Any]:
    """A page of a short list read whole (a member's memberships, a space's resources): the
    cursor is the position in the list's stable order."""
    start = 0
    if cursor is not None:
        (position,) = decode_cursor(cursor, 1)
        # isascii: "²" and "٣" are digits to str.isdigit() but not to int().
        if not (position.isascii() and position.isdigit()):
            raise invalid("cursor", "not a cursor this API gave out")
        start = int(position)
    chunk = list(items[start:start + limit])
    more = start + limit < len(items)
    return {"items": chunk, "next_cursor": encode_cursor(start + limit) if more else None}
