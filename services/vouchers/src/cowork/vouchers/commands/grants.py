"""Deciding an application: granting what the cap, the budget and de minimis allow, or
rejecting it; a ranked programme's rank order, and its waiting list funded by released money."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.ledger import SOURCE, announce_budget_thresholds, post
from cowork.vouchers.commands.schedule import schedule_voucher_jobs
from cowork.vouchers.commands.undertakings import locked_undertaking
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.domain.eligibility import Reason, declarations_of, eligibility_rules
from cowork.vouchers.domain.grants import (
    GrantDecision,
    de_minimis_headroom,
    grant_amount,
    voucher_validity,
)
from cowork.vouchers.domain.ledger import Movement, ProgrammeBalances
from cowork.vouchers.domain.ranking import Candidate, Criterion, rank
from cowork.vouchers.store import applications as applications_store
from cowork.vouchers.store import grants as grants_store
from cowork.vouchers.store import programmes as programmes_store
from cowork.vouchers.store import vouchers as vouchers_store


async def reject(conn: asyncpg.Connection, application: asyncpg.Record,
                 reasons: tuple[str, ...] | list[str], now: datetime,
                 rank_position: int | None = None) -> None:
    await applications_store.decide_application(
        conn, application["id"], status="rejected", reasons=reasons, now=now,
        rank_position=rank_position)
    await add_event(conn, ev.ApplicationRejected(
        application_id=application["id"], programme_id=application["programme_id"],
        member_id=application["member_id"], reasons=list(reasons)), source=SOURCE)


async def grant(conn: asyncpg.Connection, programme: asyncpg.Record,
                balances: ProgrammeBalances, application: asyncpg.Record,
                now: datetime, rank_position: int | None = None) -> GrantDecision:
    """Grant what the cap, the available budget and the undertaking's de minimis headroom
    allow: commit it (available -> committed), register it, schedule its expiry."""
    today = rome_date(now)
    if today > programme["valid_until"]:
        # A ranked programme closed after its last valid day (a late job, a late officer):
        # a voucher would have no day to be used on, so none is granted and closing goes on.
        return GrantDecision(0, (Reason.PROGRAMME_ENDED.value,))
    key = application["undertaking_key"]
    undertaking = await locked_undertaking(conn, key)
    headroom = de_minimis_headroom(await grants_store.de_minimis_grants_of(conn, undertaking),
                                   today)
    decision = grant_amount(programme["cap_per_beneficiary_cents"], balances.available_cents,
                            headroom)
    if decision.amount_cents == 0:
        return decision
    used_before = balances.used_cents
    voucher = await _commit_voucher(conn, programme, balances, application, decision, now)
    await grants_store.record_de_minimis(
        conn, voucher_id=voucher["id"], undertaking_key=key, programme_id=programme["id"],
        granted_on=today, amount_cents=decision.amount_cents, rna_code=programme["rna_code"])
    await applications_store.decide_application(
        conn, application["id"], status="granted", reasons=decision.reasons, now=now,
        voucher_id=voucher["id"], rank_position=rank_position,
        condition_deadline=voucher["condition_deadline"])
    await add_event(conn, ev.VoucherGranted(
        voucher_id=voucher["id"], programme_id=programme["id"],
        member_id=application["member_id"], amount_cents=decision.amount_cents,
        valid_until=voucher["valid_until"], **_statistics_fields(application, today)),
        source=SOURCE)
    await schedule_voucher_jobs(conn, voucher)
    await announce_budget_thresholds(conn, programme["id"], balances, used_before, now)
    return decision


# Which declared status the statistics count a beneficiary under when several were declared.
_STATUS_PRIORITY = ("new_partita_iva", "unemployed")


def _statistics_fields(application: asyncpg.Record, today: date) -> dict[str, Any]:
    """The declared status and age band on voucher.granted (community's open data counts by
    them); never the birth date itself."""
    declared = declarations_of(application["declarations"] or {})
    statuses = sorted(declared.statuses, key=lambda s: (
        _STATUS_PRIORITY.index(s) if s in _STATUS_PRIORITY else len(_STATUS_PRIORITY), s))
    return {"status": statuses[0] if statuses else None,
            "age_band": ev.age_band(declared.birth_date, today) if declared.birth_date else None}


async def _commit_voucher(conn: asyncpg.Connection, programme: asyncpg.Record,
                          balances: ProgrammeBalances, application: asyncpg.Record,
                          decision: GrantDecision, now: datetime) -> asyncpg.Record:
    """The voucher row and its money committed (available -> committed). A conditional
    grant's grace counts from the grant: a ranked programme grants days or weeks after the
    application, and the applicant must have the whole grace period to meet the condition."""
    today = rome_date(now)
    valid_from, valid_until = voucher_validity(
        today, programme["valid_from"], programme["valid_until"],
        programme["max_duration_months"])
    condition_deadline = application["condition_deadline"]
    grace_days = eligibility_rules(programme["eligibility"]).partita_iva_grace_days
    if condition_deadline is not None and grace_days is not None:
        condition_deadline = today + timedelta(days=grace_days)
    voucher_id = uuid4()
    voucher = await vouchers_store.insert_voucher(
        conn, voucher_id=voucher_id, programme_id=programme["id"],
        member_id=application["member_id"], application_id=application["id"],
        amount_cents=decision.amount_cents, granted_at=now, valid_from=valid_from,
        valid_until=valid_until, condition_deadline=condition_deadline,
        partita_iva_opened_on=None)
    await post(conn, programme["id"], balances, Movement.GRANT, decision.amount_cents,
               now, voucher_id=voucher_id, member_id=application["member_id"],
               reason="grant")
    return voucher


async def rank_and_grant(conn: asyncpg.Connection, programme: asyncpg.Record,
                         balances: ProgrammeBalances, now: datetime) -> None:
    """A ranked programme closing: its pending applications granted in rank order until the
    budget is spent; the rest wait, in rank order, for released money."""
    pending = {a["id"]: a for a in await applications_store.applications_in(
        conn, programme["id"], "pending")}
    candidates = [Candidate(a["id"], a["submitted_at"], declarations_of(a["declarations"]))
                  for a in pending.values()]
    order = rank(candidates, [Criterion(c) for c in programme["criteria"]],
                 frozenset(programme["eligibility"].get("residence_istat") or ()))
    budget_left = True
    for position, application_id in enumerate(order, start=1):
        application = pending[application_id]
        if budget_left:
            decision = await grant(conn, programme, balances, application, now,
                                   rank_position=position)
            if decision.amount_cents > 0:
                continue
            if Reason.BUDGET_EXHAUSTED.value not in decision.reasons:
                await reject(conn, application, decision.reasons, now, rank_position=position)
                continue
            budget_left = False
        await applications_store.decide_application(
            conn, application_id, status="waitlisted",
            reasons=[Reason.BUDGET_EXHAUSTED.value], now=now, rank_position=position)


async def fund_waitlist(conn: asyncpg.Connection, programme_id: UUID,
                        balances: ProgrammeBalances, now: datetime) -> None:
    """Released money goes to the waiting list of a closed ranked programme, in rank order."""
    programme = await programmes_store.programme_by_id(conn, programme_id)
    assert programme is not None
    if programme["selection_mode"] != "ranked" or programme["status"] != "closed" \
            or rome_date(now) > programme["valid_until"]:
        return
    for application in await applications_store.applications_in(conn, programme_id,
                                                                 "waitlisted"):
        if balances.available_cents == 0:
            return
        decision = await grant(conn, programme, balances, application, now)
        if decision.amount_cents == 0:
            if Reason.BUDGET_EXHAUSTED.value in decision.reasons:
                return
            await reject(conn, application, decision.reasons, now)
