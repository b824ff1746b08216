"""Expressions of interest: stored with their event, and summarised for the council."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.community.domain.demand import DemandSummary, Respondent, summarise
from cowork.community.domain.interest import normalised_email
from cowork.community.store import interest as store
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event

SOURCE = "/cowork/community"


async def express_interest(conn: asyncpg.Connection, spec: dict[str, Any], now: datetime
                           ) -> UUID:
    """Store one expression and announce it, in the caller's transaction. The event carries
    the answers only: the address (when given) stays in this database."""
    interest_id = uuid4()
    email = spec.get("email")
    await store.insert_expression(conn, {
        **spec, "id": interest_id, "now": now,
        "email": normalised_email(email) if email else None,
        "residence_istat": spec.get("residence_istat")})
    await add_event(conn, ev.InterestExpressed(
        interest_id=interest_id, who=spec["who"], desk_kinds=list(spec["desk_kinds"]),
        weekdays=list(spec["weekdays"]), time_bands=list(spec["time_bands"]),
        would_help_run=spec["would_help_run"]), source=SOURCE)
    return interest_id


async def demand_summary(conn: asyncpg.Connection, start: datetime | None,
                         end: datetime | None) -> DemandSummary:
    rows = await store.expressions_between(conn, start, end)
    return summarise(Respondent(who=r["who"], desk_kinds=tuple(r["desk_kinds"]),
                                weekdays=tuple(r["weekdays"]),
                                time_bands=tuple(r["time_bands"]), frequency=r["frequency"],
                                would_help_run=r["would_help_run"]) for r in rows)
