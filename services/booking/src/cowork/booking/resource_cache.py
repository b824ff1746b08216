"""Resource rows (with their space's calendar) kept in the process between requests.

Reading the resource on every booking cost a round trip, a tenth of a replica's CPU
(docs/benchmarks/history.md, 2026-11-28), and on every availability query half its statements. A kept
row is never trusted, only tried:
- the booking statement writes only if the row's `calendar_version` is still the resource's
  (store.book_drawing_on), and every change of a resource or of its space's calendar bumps that
  version — so a booking decided on a row another replica has since changed writes nothing;
- a refusal decided on a kept row (the rules, or that statement's `resource_unavailable`) is
  decided again on a fresh row when the resource changed meanwhile (`book_kept_or_fresh`);
- availability reads the resource's `calendar_version` with the day's bookings and starts
  again on a fresh row when it moved (`answer_on_current`).
What a stale row can cost is one more round trip, never a wrong booking, refusal or answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar
from uuid import UUID

import asyncpg

from cowork.booking import domain, store

T = TypeVar("T")


class ResourceCache:
    """Rows by resource id; bounded (a catalogue has tens or hundreds of resources, and only
    rows that exist are kept, so the bound is a safety net, not an eviction policy)."""

    def __init__(self, max_rows: int = 10_000) -> None:
        self._rows: dict[UUID, asyncpg.Record] = {}
        self._max_rows = max_rows

    def kept(self, resource_id: UUID) -> asyncpg.Record | None:
        return self._rows.get(resource_id)

    async def read(self, conn: asyncpg.Connection, resource_id: UUID) -> asyncpg.Record | None:
        """The row as it is now, kept for the next booking."""
        row = await store.resource_by_id(conn, resource_id)
        if row is None:
            self._rows.pop(resource_id, None)
            return None
        if len(self._rows) >= self._max_rows:
            self._rows.clear()
        self._rows[resource_id] = row
        return row

    def forget(self) -> None:
        """This process changed a resource or a space: read them again (saves a refused
        statement; not needed for correctness)."""
        self._rows.clear()

    async def book_kept_or_fresh(
            self, conn: asyncpg.Connection, resource_id: UUID,
            book: Callable[[asyncpg.Record], Awaitable[T]]) -> tuple[T, asyncpg.Record] | None:
        """`book(row)` on the kept row, or on a fresh one when none is kept; a refusal on a kept
        row is retried once on a fresh row if the resource changed since it was kept. Answers
        the result and the row it was decided on; None when the resource does not exist."""
        kept = self.kept(resource_id)
        row = kept or await self.read(conn, resource_id)
        if row is None:
            return None
        try:
            return await book(row), row
        except domain.RuleViolation:
            if kept is None:
                raise
            fresh = await self.read(conn, resource_id)
            if fresh is None or fresh["calendar_version"] == kept["calendar_version"]:
                raise  # decided on the resource as it is: the refusal stands
        return await book(fresh), fresh

    async def answer_on_current(
            self, conn: asyncpg.Connection, resource_id: UUID,
            answer: Callable[[asyncpg.Record], Awaitable[tuple[int | None, T]]]
            ) -> tuple[T, asyncpg.Record] | None:
        """`answer(row)` on the kept row (or a fresh one when none is kept): it answers the
        resource's calendar_version as the database has it now (None: gone) with its result; if
        that is not the row's, the row changed since it was kept and the answer is made again on
        a fresh row. Answers the result and its row; None when the resource does not exist."""
        row = self.kept(resource_id) or await self.read(conn, resource_id)
        if row is None:
            return None
        version, result = await answer(row)
        if version == row["calendar_version"]:
            return result, row
        fresh = await self.read(conn, resource_id)
        if fresh is None:
            return None
        _, result = await answer(fresh)
        return result, fresh
