"""What the vouchers routes share beyond `Runtime` and `Caller`: one transaction with the
rules' refusals translated, who may see whose data, and the lists' keyset cursors."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol, TypeVar
from uuid import UUID

import asyncpg
from fastapi import Depends, Query
from pydantic import TypeAdapter, ValidationError

from cowork.shared.api import ApiDateTime, decode_cursor, encode_cursor, transactions
from cowork.shared.api import translated_errors as api_errors
from cowork.shared.auth import Principal, require_self_or_roles
from cowork.shared.http import ApiError, invalid, not_found
from cowork.shared.service import Runtime
from cowork.vouchers import commands, domain, store
from cowork.vouchers.domain.statements import is_period

T = TypeVar("T")


def _refusal(exc: Exception) -> ApiError | None:
    if isinstance(exc, commands.Refused):
        return ApiError(409, exc.code, str(exc), field=exc.field)
    if isinstance(exc, domain.LedgerViolation):  # refused before anything was written
        return ApiError(409, "ledger_violation", str(exc))
    return None


translated_errors = api_errors(_refusal)


class InTransaction(Protocol):
    """`await in_tx(work)`: `work(conn)` in one transaction, its refusals translated."""

    def __call__(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> Awaitable[T]: ...


def in_transaction(runtime: Runtime) -> InTransaction:
    return transactions(runtime, translated_errors)


InTx = Annotated[InTransaction, Depends(in_transaction)]

Year = Annotated[int, Query(ge=2000, le=2100)]


def checked_period(period: str) -> str:
    if not is_period(period):
        raise invalid("period", "a statement period is YYYY-MM")
    return period


# ---------------------------------------------------------------- who sees what


def own_or_officer(caller: Principal, member_id: object) -> None:
    require_self_or_roles(caller, member_id, "officer")


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def member_filter(caller: Principal, member_id: UUID | None) -> UUID | None:
    """An officer lists anyone's; a member their own (member_id defaults to them)."""
    if caller.has("officer"):
        return member_id
    if member_id is None and caller.has("member"):
        member_id = UUID(caller.sub) if _is_uuid(caller.sub) else None
    if member_id is None:
        raise ApiError(403, "forbidden", "a member may only see their own data")
    own_or_officer(caller, member_id)
    return member_id


async def programme_or_404(conn: asyncpg.Connection, programme_id: UUID) -> asyncpg.Record:
    programme = await store.programme_by_id(conn, programme_id)
    if programme is None:
        raise not_found("programme", programme_id)
    return programme


async def voucher_owned(runtime: Runtime, voucher_id: UUID, caller: Principal,
                        *also: str) -> asyncpg.Record:
    """The voucher, for its member or an officer (or the roles in `also`)."""
    async with runtime.db.acquire() as conn:
        found = await store.voucher_by_id(conn, voucher_id)
    if found is None:
        raise not_found("voucher", voucher_id)
    require_self_or_roles(caller, found["member_id"], "officer", *also)
    return found


# ---------------------------------------------------------------- keyset pages

_MOMENT: TypeAdapter[datetime] = TypeAdapter(ApiDateTime)
_NOT_OURS = "not a cursor this API gave out"


def time_id_after(cursor: str | None) -> tuple[datetime, UUID] | None:
    """A list ordered by (time, id): the position after which the next page starts. Anything
    but what `page_of` gave out is a 422 naming `cursor` (a forged time or id included)."""
    if cursor is None:
        return None
    moment_text, id_text = decode_cursor(cursor, 2)
    try:
        return _MOMENT.validate_python(moment_text), UUID(id_text)
    except (ValidationError, ValueError) as exc:
        raise invalid("cursor", _NOT_OURS) from exc


def seq_after(cursor: str | None) -> int | None:
    """The ledger, ordered by its `bigint` sequence."""
    if cursor is None:
        return None
    (seq,) = decode_cursor(cursor, 1)
    if not seq.isascii() or not seq.isdigit() or int(seq) >= 2**63:
        raise invalid("cursor", _NOT_OURS)
    return int(seq)


def page_of(items: list[dict[str, Any]], rows: Sequence[asyncpg.Record], limit: int,
            key: Callable[[asyncpg.Record], Sequence[object]]) -> dict[str, Any]:
    """One page of `limit` items read with one more row: that row says a next page exists,
    and the last item's key is where it starts."""
    more = len(rows) > limit
    return {"items": items[:limit],
            "next_cursor": encode_cursor(*key(rows[limit - 1])) if more else None}


def by_time(column: str) -> Callable[[asyncpg.Record], tuple[object, object]]:
    return lambda row: (row[column], row["id"])
