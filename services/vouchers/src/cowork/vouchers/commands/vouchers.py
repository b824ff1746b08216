"""Vouchers: how they end (expired, revoked) and the condition of a conditional grant met."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.clawback import claw_back_voucher
from cowork.vouchers.commands.grants import fund_waitlist
from cowork.vouchers.commands.ledger import SOURCE, Refused, locked_balances, post
from cowork.vouchers.commands.schedule import CONDITION_JOB, VOUCHER_JOBS
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.domain.eligibility import eligibility_rules, partita_iva_declaration_refusal
from cowork.vouchers.domain.ledger import Movement
from cowork.vouchers.store import applications as applications_store
from cowork.vouchers.store import programmes as programmes_store
from cowork.vouchers.store import vouchers as vouchers_store


def voucher_view(v: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(v["id"]), "programme_id": str(v["programme_id"]),
            "member_id": str(v["member_id"]), "application_id": str(v["application_id"]),
            "amount_cents": v["amount_cents"], "remaining_cents": v["remaining_cents"],
            "used_cents": v["amount_cents"] - v["remaining_cents"] - v["released_cents"],
            "released_cents": v["released_cents"], "status": v["status"],
            "granted_at": v["granted_at"].isoformat(), "valid_from": v["valid_from"].isoformat(),
            "valid_until": v["valid_until"].isoformat(),
            "condition_deadline": v["condition_deadline"].isoformat()
            if v["condition_deadline"] else None,
            "conditions_met": v["condition_deadline"] is None
            or v["partita_iva_opened_on"] is not None,
            "end_reason": v["end_reason"]}


async def end_voucher(conn: asyncpg.Connection, voucher_id: UUID, *, status: str,
                      reason: str | None, now: datetime) -> asyncpg.Record | None:
    """Expire or revoke: every subsidy already paid for use after today is reversed
    (clawback: a booking confirmed weeks ahead, a renewal paid before its period), then what is
    left goes back to available; what was paid for use until today stays disbursed. None when
    the voucher had already ended."""
    found = await vouchers_store.voucher_by_id(conn, voucher_id)
    if found is None:
        raise NotFound("voucher", voucher_id)
    balances = await locked_balances(conn, found["programme_id"])
    voucher = await vouchers_store.voucher_by_id(conn, voucher_id, for_update=True)
    assert voucher is not None
    if voucher["status"] != "active":
        return None
    # Use after today (revocation) or after the validity (an expiry run late) is not due.
    clawed_back = await claw_back_voucher(
        conn, voucher, balances, after=min(rome_date(now), voucher["valid_until"]), now=now)
    released = voucher["remaining_cents"] + clawed_back
    if released > 0:
        await post(conn, voucher["programme_id"], balances, Movement.RELEASE, released,
                   now, voucher_id=voucher_id, member_id=voucher["member_id"],
                   reason=reason or status)
    await vouchers_store.end_voucher(conn, voucher_id, status=status, released_cents=released,
                                     reason=reason, now=now)
    event_type = ev.VoucherExpired if status == "expired" else ev.VoucherRevoked
    await add_event(conn, event_type(voucher_id=voucher_id, member_id=voucher["member_id"],
                                     released_cents=released, reason=reason), source=SOURCE)
    for kind in VOUCHER_JOBS:
        await scheduler.cancel(conn, kind, str(voucher_id))
    if released > 0:
        await fund_waitlist(conn, voucher["programme_id"], balances, now)
    ended = await vouchers_store.voucher_by_id(conn, voucher_id)
    assert ended is not None
    return ended


async def revoke(conn: asyncpg.Connection, voucher_id: UUID, reason: str | None,
                 now: datetime) -> asyncpg.Record:
    ended = await end_voucher(conn, voucher_id, status="revoked", reason=reason, now=now)
    if ended is None:
        raise Refused("voucher_not_active", "the voucher has already expired or been revoked")
    return ended


async def declare_partita_iva(conn: asyncpg.Connection, voucher_id: UUID, opened_on: date,
                              now: datetime) -> asyncpg.Record:
    """The condition of a conditional grant met: the voucher starts paying. The partita IVA
    meets the programme's age rule as it would have at application (measured on the
    application day), and is declared by the deadline day itself: not until the revocation
    job happens to run."""
    voucher = await vouchers_store.voucher_by_id(conn, voucher_id, for_update=True)
    if voucher is None:
        raise NotFound("voucher", voucher_id)
    if voucher["status"] != "active":
        raise Refused("voucher_not_active", "the voucher has already expired or been revoked")
    if voucher["condition_deadline"] is None:
        raise Refused("no_condition", "this voucher was granted without conditions")
    if voucher["partita_iva_opened_on"] is not None:
        raise Refused("already_declared", "the partita IVA was already declared")
    programme = await programmes_store.programme_by_id(conn, voucher["programme_id"])
    application = await applications_store.application_by_id(conn, voucher["application_id"])
    assert programme is not None and application is not None
    refusal = partita_iva_declaration_refusal(
        eligibility_rules(programme["eligibility"]), opened_on,
        applied_on=rome_date(application["submitted_at"]),
        deadline=voucher["condition_deadline"], today=rome_date(now))
    if refusal is not None:
        raise Refused(refusal, _DECLARATION_REFUSALS[refusal],
                      field=None if refusal == "condition_deadline_passed" else "opened_on")
    await vouchers_store.declare_partita_iva(conn, voucher_id, opened_on)
    await scheduler.cancel(conn, CONDITION_JOB, str(voucher_id))
    await add_event(conn, ev.VoucherPartitaIvaDeclared(
        voucher_id=voucher_id, member_id=voucher["member_id"], at=now), source=SOURCE)
    declared = await vouchers_store.voucher_by_id(conn, voucher_id)
    assert declared is not None
    return declared


_DECLARATION_REFUSALS = {
    "condition_deadline_passed": "the condition's deadline has passed: a partita IVA is "
                                 "declared by the deadline day itself",
    "opened_on_in_future": "opened_on is after today",
    "deadline_missed": "opened after the condition's deadline",
    "partita_iva_too_old": "the partita IVA was already too old for the programme's rule on "
                           "the application day",
}
