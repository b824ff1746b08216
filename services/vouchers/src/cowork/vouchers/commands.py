"""The vouchers use cases: each takes the caller's connection and writes state, ledger entries
and events (outbox) in the caller's transaction.

Every movement of a programme's money first locks the programme's balances row
(`store.lock_balances`), then the voucher row: one order everywhere, so concurrent grants,
redemptions, expiries and revocations queue instead of deadlocking, and no commitment can go
above what is available whatever runs at the same time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import asyncpg

from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.http import NotFound
from cowork.shared.logging import get_logger
from cowork.shared.outbox import add_event
from cowork.vouchers import domain, store

log = get_logger(__name__)

SOURCE = "/cowork/vouchers"
ROME = ZoneInfo("Europe/Rome")
EXPIRE_JOB = "vouchers.expire"
EXPIRING_JOB = "vouchers.expiring"
CONDITION_JOB = "vouchers.condition"
CLOSE_JOB = "vouchers.close"
EXPIRING_NOTICE = timedelta(days=14)


class Refused(Exception):
    """A request that conflicts with the current state (answered 409), with a stable code."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.field = field


# ---------------------------------------------------------------- time


def rome_date(moment: datetime) -> date:
    return moment.astimezone(ROME).date()


def month_of(moment: datetime) -> str:
    """The statement period (YYYY-MM) of an instant, by the calendar of Europe/Rome."""
    return moment.astimezone(ROME).strftime("%Y-%m")


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def start_of_day(day: date) -> datetime:
    """Midnight of `day` in Rome: when a date-based deadline falls due."""
    return datetime.combine(day, time(0), tzinfo=ROME).astimezone(UTC)


# ---------------------------------------------------------------- the ledger


async def post(conn: asyncpg.Connection, programme_id: UUID,
               balances: domain.ProgrammeBalances, movement: domain.Movement, amount_cents: int,
               now: datetime, **facts: Any) -> UUID:
    """One ledger transaction (two postings summing to zero) and the balances it leaves; the
    domain refuses a movement that would break an invariant (LedgerViolation), and so would
    the database's CHECKs and the deferred balance trigger."""
    balances.apply(movement, amount_cents)
    transaction_id = uuid4()
    await store.insert_ledger_transaction(
        conn, transaction_id=transaction_id, programme_id=programme_id, movement=movement,
        amount_cents=amount_cents, recorded_at=now,
        postings=domain.postings(movement, amount_cents), facts=facts, balances=balances)
    return transaction_id


async def locked_balances(conn: asyncpg.Connection, programme_id: UUID
                          ) -> domain.ProgrammeBalances:
    balances = await store.lock_balances(conn, programme_id)
    if balances is None:
        raise NotFound("programme", programme_id)
    return balances


async def statement_period_for(conn: asyncpg.Connection, programme_id: UUID,
                               now: datetime) -> str:
    """The month of `now`, or the first later month whose statement is not issued yet: a line
    is assigned to one statement, once, and an issued statement never changes. Called with
    the programme's balances locked, which issuing also takes."""
    period = month_of(now)
    return first_unissued(period, await store.issued_periods_from(conn, programme_id, period))


async def _budget_thresholds(conn: asyncpg.Connection, programme_id: UUID,
                             balances: domain.ProgrammeBalances, used_before: int,
                             now: datetime) -> None:
    for pct in domain.budget_thresholds_crossed(balances.budget_cents, used_before,
                                                balances.used_cents):
        if await store.mark_threshold(conn, programme_id, f"budget_{pct}", now):
            await add_event(conn, ev.BudgetThresholdReached(
                programme_id=programme_id, threshold_pct=pct,  # type: ignore[arg-type]
                available_cents=balances.available_cents), source=SOURCE)


# ---------------------------------------------------------------- programmes


async def open_programme(conn: asyncpg.Connection, spec: dict[str, Any], now: datetime
                         ) -> asyncpg.Record:
    """Record the programme, post its budget (funding -> available) and announce it; a ranked
    programme with a deadline closes (and ranks) by itself the day after it."""
    programme_id = uuid4()
    await store.insert_programme(conn, {**spec, "id": programme_id, "opened_at": now})
    balances = domain.ProgrammeBalances(budget_cents=spec["budget_cents"])
    balances.apply(domain.Movement.OPEN, spec["budget_cents"])
    await store.insert_balances(conn, programme_id, balances)
    await store.insert_ledger_transaction(
        conn, transaction_id=uuid4(), programme_id=programme_id, movement=domain.Movement.OPEN,
        amount_cents=spec["budget_cents"], recorded_at=now,
        postings=domain.postings(domain.Movement.OPEN, spec["budget_cents"]),
        facts={"reason": "budget"})
    await add_event(conn, ev.ProgrammeOpened(
        programme_id=programme_id, name=spec["name"], budget_cents=spec["budget_cents"],
        coverage_pct=spec["coverage_pct"],
        cap_per_beneficiary_cents=spec["cap_per_beneficiary_cents"],
        valid_from=spec["valid_from"], valid_until=spec["valid_until"],
        selection_mode=spec["selection_mode"]), source=SOURCE)
    # Closes by itself the day after its deadline (ranked: ranks and grants then), or a
    # first-come programme without one the day after its validity ends.
    last_day = spec.get("application_deadline") or (
        spec["valid_until"] if spec["selection_mode"] == "first_come" else None)
    if last_day is not None:
        await scheduler.schedule(conn, CLOSE_JOB, str(programme_id),
                                 start_of_day(last_day + timedelta(days=1)))
    programme = await store.programme_by_id(conn, programme_id)
    assert programme is not None
    return programme


async def _close(conn: asyncpg.Connection, programme: asyncpg.Record, now: datetime) -> None:
    if await store.close_programme(conn, programme["id"], now):
        await add_event(conn, ev.ProgrammeClosed(programme_id=programme["id"], at=now),
                        source=SOURCE)
        await scheduler.cancel(conn, CLOSE_JOB, str(programme["id"]))


async def close_programme(conn: asyncpg.Connection, programme_id: UUID, now: datetime
                          ) -> asyncpg.Record:
    """Close to applications; a ranked programme ranks its pending applications and grants in
    rank order until the budget is spent; the rest wait, in rank order, for released money."""
    balances = await locked_balances(conn, programme_id)
    programme = await store.programme_by_id(conn, programme_id)
    assert programme is not None
    if programme["status"] == "closed":
        raise Refused("programme_closed", "the programme is already closed")
    if programme["selection_mode"] == "ranked":
        await _rank_and_grant(conn, programme, balances, now)
    await _close(conn, programme, now)
    closed = await store.programme_by_id(conn, programme_id)
    assert closed is not None
    return closed


async def _rank_and_grant(conn: asyncpg.Connection, programme: asyncpg.Record,
                          balances: domain.ProgrammeBalances, now: datetime) -> None:
    pending = {a["id"]: a for a in await store.applications_in(conn, programme["id"], "pending")}
    candidates = [domain.Candidate(a["id"], a["submitted_at"], declarations_of(a["declarations"]))
                  for a in pending.values()]
    order = domain.rank(candidates, [domain.Criterion(c) for c in programme["criteria"]],
                        frozenset(programme["eligibility"].get("residence_istat") or ()))
    budget_left = True
    for position, application_id in enumerate(order, start=1):
        application = pending[application_id]
        if budget_left:
            decision = await _grant(conn, programme, balances, application, now,
                                    rank_position=position)
            if decision.amount_cents > 0:
                continue
            if domain.Reason.BUDGET_EXHAUSTED.value not in decision.reasons:
                await _reject(conn, application, decision.reasons, now, rank_position=position)
                continue
            budget_left = False
        await store.decide_application(conn, application_id, status="waitlisted",
                                       reasons=[domain.Reason.BUDGET_EXHAUSTED.value], now=now,
                                       rank_position=position)


async def _fund_waitlist(conn: asyncpg.Connection, programme_id: UUID,
                         balances: domain.ProgrammeBalances, now: datetime) -> None:
    """Released money goes to the waiting list of a closed ranked programme, in rank order."""
    programme = await store.programme_by_id(conn, programme_id)
    assert programme is not None
    if programme["selection_mode"] != "ranked" or programme["status"] != "closed" \
            or rome_date(now) > programme["valid_until"]:
        return
    for application in await store.applications_in(conn, programme_id, "waitlisted"):
        if balances.available_cents == 0:
            return
        decision = await _grant(conn, programme, balances, application, now)
        if decision.amount_cents == 0:
            if domain.Reason.BUDGET_EXHAUSTED.value in decision.reasons:
                return
            await _reject(conn, application, decision.reasons, now)


# ---------------------------------------------------------------- applications


def declarations_of(data: dict[str, Any]) -> domain.Declarations:
    def day(key: str) -> date | None:
        value = data.get(key)
        return date.fromisoformat(value) if value else None

    return domain.Declarations(
        birth_date=day("birth_date"), residence_istat=data.get("residence_istat"),
        statuses=frozenset(data.get("statuses") or ()), disability=bool(data.get("disability")),
        partita_iva_opened_on=day("partita_iva_opened_on"))


def eligibility_rules(data: dict[str, Any]) -> domain.EligibilityRules:
    return domain.EligibilityRules(
        residence_istat=frozenset(data.get("residence_istat") or ()),
        min_age=data.get("min_age"), max_age=data.get("max_age"),
        disability_lifts_max_age=bool(data.get("disability_lifts_max_age")),
        statuses=frozenset(data.get("statuses") or ()),
        member_kinds=frozenset(data.get("member_kinds") or ()),
        requires_partita_iva=bool(data.get("requires_partita_iva")),
        partita_iva_max_age_months=data.get("partita_iva_max_age_months"),
        partita_iva_grace_days=data.get("partita_iva_grace_days"))


def undertaking_key(member_id: UUID, tax_code: str | None) -> str:
    """The de minimis register's key for the single undertaking: a SHA-256 of the declared tax
    code (so one undertaking is one key across members and programmes, and the register holds
    no tax code), or the member when none was declared."""
    if tax_code:
        return "tax:" + hashlib.sha256(tax_code.strip().upper().encode()).hexdigest()
    return f"member:{member_id}"


def application_view(a: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(a["id"]), "programme_id": str(a["programme_id"]),
            "member_id": str(a["member_id"]), "status": a["status"],
            "voucher_id": str(a["voucher_id"]) if a["voucher_id"] else None,
            "reasons": list(a["reasons"]), "submitted_at": a["submitted_at"].isoformat(),
            "condition_deadline": a["condition_deadline"].isoformat()
            if a["condition_deadline"] else None,
            "rank_position": a["rank_position"]}


async def apply(conn: asyncpg.Connection, programme_id: UUID, member_id: UUID,
                declarations: dict[str, Any], now: datetime) -> asyncpg.Record:
    """Evaluate the application on its date; first_come grants (or refuses) at once, ranked
    keeps it pending until the programme closes. Rejections name every rule that failed."""
    balances = await locked_balances(conn, programme_id)
    programme = await store.programme_by_id(conn, programme_id)
    assert programme is not None
    today = rome_date(now)
    if programme["status"] == "closed":
        raise Refused("programme_closed", "the programme is closed to applications")
    if programme["application_deadline"] and today > programme["application_deadline"]:
        raise Refused("applications_closed", "the application deadline has passed")
    if today > programme["valid_until"]:
        raise Refused("programme_ended", "the programme's validity has ended")
    member = await store.member_by_id(conn, member_id)
    if member is not None and member["erased_at"] is not None:
        raise Refused("member_erased", "this member was erased", field="member_id")
    declared = declarations_of(declarations)
    if declared.residence_istat is None and member is not None and member["residence_istat"]:
        declarations = {**declarations, "residence_istat": member["residence_istat"]}
        declared = declarations_of(declarations)
    # The replica's member kind wins; a member it has not heard of yet (registered a moment
    # ago) may declare it, like every other self-certified fact the officer checks later.
    member_kind = member["kind"] if member and member["kind"] else declarations.get("member_kind")
    outcome = domain.check_eligibility(eligibility_rules(programme["eligibility"]),
                                       member_kind, declared, today)
    application_id = uuid4()
    tax_code = declarations.pop("tax_code", None)
    try:
        async with conn.transaction():  # a savepoint: the duplicate leaves nothing behind
            await store.insert_application(
                conn, application_id=application_id, programme_id=programme_id,
                member_id=member_id, submitted_at=now, declarations=declarations,
                undertaking_key=undertaking_key(member_id, tax_code),
                condition_deadline=outcome.condition_deadline)
    except asyncpg.UniqueViolationError as exc:
        raise Refused("already_applied", "this member already applied to this programme "
                      "(one voucher per beneficiary per programme)", field="member_id") from exc
    application = await store.application_by_id(conn, application_id)
    assert application is not None
    if not outcome.eligible:
        await _reject(conn, application, outcome.reasons, now)
    elif programme["selection_mode"] == "first_come":
        decision = await _grant(conn, programme, balances, application, now)
        if decision.amount_cents == 0:
            await _reject(conn, application, decision.reasons, now)
        elif balances.available_cents == 0:
            await _close(conn, programme, now)  # first come, first served until funds run out
    decided = await store.application_by_id(conn, application_id)
    assert decided is not None
    return decided


async def _reject(conn: asyncpg.Connection, application: asyncpg.Record,
                  reasons: tuple[str, ...] | list[str], now: datetime,
                  rank_position: int | None = None) -> None:
    await store.decide_application(conn, application["id"], status="rejected", reasons=reasons,
                                   now=now, rank_position=rank_position)
    await add_event(conn, ev.ApplicationRejected(
        application_id=application["id"], programme_id=application["programme_id"],
        member_id=application["member_id"], reasons=list(reasons)), source=SOURCE)


def voucher_validity(programme: asyncpg.Record, today: date) -> tuple[date, date]:
    """From the grant (or the programme's start), for at most max_duration_months, never past
    the programme's end."""
    valid_from = max(today, programme["valid_from"])
    valid_until = programme["valid_until"]
    if programme["max_duration_months"]:
        valid_until = min(valid_until, domain.add_months(valid_from,
                                                         programme["max_duration_months"])
                          - timedelta(days=1))
    return valid_from, valid_until


async def _grant(conn: asyncpg.Connection, programme: asyncpg.Record,
                 balances: domain.ProgrammeBalances, application: asyncpg.Record,
                 now: datetime, rank_position: int | None = None) -> domain.GrantDecision:
    """Grant what the cap, the available budget and the undertaking's de minimis headroom
    allow: commit it (available -> committed), register it, schedule its expiry."""
    key = application["undertaking_key"]
    await store.lock_undertaking(conn, key)
    today = rome_date(now)
    headroom = domain.de_minimis_headroom(await store.de_minimis_grants_of(conn, key), today)
    decision = domain.grant_amount(programme["cap_per_beneficiary_cents"],
                                   balances.available_cents, headroom)
    if decision.amount_cents == 0:
        return decision
    used_before = balances.used_cents
    valid_from, valid_until = voucher_validity(programme, today)
    voucher_id = uuid4()
    voucher = await store.insert_voucher(
        conn, voucher_id=voucher_id, programme_id=programme["id"],
        member_id=application["member_id"], application_id=application["id"],
        amount_cents=decision.amount_cents, granted_at=now, valid_from=valid_from,
        valid_until=valid_until, condition_deadline=application["condition_deadline"],
        partita_iva_opened_on=None)
    await post(conn, programme["id"], balances, domain.Movement.GRANT, decision.amount_cents,
               now, voucher_id=voucher_id, member_id=application["member_id"],
               reason="grant")
    await store.record_de_minimis(conn, voucher_id=voucher_id, undertaking_key=key,
                                  programme_id=programme["id"], granted_on=today,
                                  amount_cents=decision.amount_cents,
                                  rna_code=programme["rna_code"])
    await store.decide_application(conn, application["id"], status="granted",
                                   reasons=decision.reasons, now=now, voucher_id=voucher_id,
                                   rank_position=rank_position)
    await add_event(conn, ev.VoucherGranted(
        voucher_id=voucher_id, programme_id=programme["id"],
        member_id=application["member_id"], amount_cents=decision.amount_cents,
        valid_until=valid_until), source=SOURCE)
    await _schedule_voucher_jobs(conn, voucher)
    await _budget_thresholds(conn, programme["id"], balances, used_before, now)
    return decision


async def _schedule_voucher_jobs(conn: asyncpg.Connection, voucher: asyncpg.Record) -> None:
    key = str(voucher["id"])
    await scheduler.schedule(conn, EXPIRE_JOB, key,
                             start_of_day(voucher["valid_until"] + timedelta(days=1)))
    await scheduler.schedule(conn, EXPIRING_JOB, key,
                             start_of_day(voucher["valid_until"]) - EXPIRING_NOTICE)
    if voucher["condition_deadline"] is not None:
        await scheduler.schedule(conn, CONDITION_JOB, key,
                                 start_of_day(voucher["condition_deadline"] + timedelta(days=1)))


# ---------------------------------------------------------------- vouchers


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


async def _end_voucher(conn: asyncpg.Connection, voucher_id: UUID, *, status: str,
                       reason: str | None, now: datetime) -> asyncpg.Record | None:
    """Expire or revoke: what is left goes back to available (disbursed stays disbursed);
    None when the voucher had already ended."""
    found = await store.voucher_by_id(conn, voucher_id)
    if found is None:
        raise NotFound("voucher", voucher_id)
    balances = await locked_balances(conn, found["programme_id"])
    voucher = await store.voucher_by_id(conn, voucher_id, for_update=True)
    assert voucher is not None
    if voucher["status"] != "active":
        return None
    released = voucher["remaining_cents"]
    if released > 0:
        await post(conn, voucher["programme_id"], balances, domain.Movement.RELEASE, released,
                   now, voucher_id=voucher_id, member_id=voucher["member_id"],
                   reason=reason or status)
    await store.end_voucher(conn, voucher_id, status=status, released_cents=released,
                            reason=reason, now=now)
    event_type = ev.VoucherExpired if status == "expired" else ev.VoucherRevoked
    await add_event(conn, event_type(voucher_id=voucher_id, member_id=voucher["member_id"],
                                     released_cents=released, reason=reason), source=SOURCE)
    for kind in (EXPIRE_JOB, EXPIRING_JOB, CONDITION_JOB):
        await scheduler.cancel(conn, kind, str(voucher_id))
    if released > 0:
        await _fund_waitlist(conn, voucher["programme_id"], balances, now)
    ended = await store.voucher_by_id(conn, voucher_id)
    assert ended is not None
    return ended


async def revoke(conn: asyncpg.Connection, voucher_id: UUID, reason: str | None,
                 now: datetime) -> asyncpg.Record:
    ended = await _end_voucher(conn, voucher_id, status="revoked", reason=reason, now=now)
    if ended is None:
        raise Refused("voucher_not_active", "the voucher has already expired or been revoked")
    return ended


async def declare_partita_iva(conn: asyncpg.Connection, voucher_id: UUID, opened_on: date,
                              now: datetime) -> asyncpg.Record:
    """The condition of a conditional grant met: the voucher starts paying."""
    voucher = await store.voucher_by_id(conn, voucher_id, for_update=True)
    if voucher is None:
        raise NotFound("voucher", voucher_id)
    if voucher["status"] != "active":
        raise Refused("voucher_not_active", "the voucher has already expired or been revoked")
    if voucher["condition_deadline"] is None:
        raise Refused("no_condition", "this voucher was granted without conditions")
    if voucher["partita_iva_opened_on"] is not None:
        raise Refused("already_declared", "the partita IVA was already declared")
    if opened_on > rome_date(now):
        raise Refused("opened_on_in_future", "opened_on is after today", field="opened_on")
    if opened_on > voucher["condition_deadline"]:
        raise Refused("deadline_missed", "opened after the condition's deadline",
                      field="opened_on")
    await store.declare_partita_iva(conn, voucher_id, opened_on)
    await scheduler.cancel(conn, CONDITION_JOB, str(voucher_id))
    declared = await store.voucher_by_id(conn, voucher_id)
    assert declared is not None
    return declared


# ---------------------------------------------------------------- redemptions


@dataclass(frozen=True)
class Source:
    """What a redemption pays for: one booking or one membership purchase or renewal."""

    type: str  # "booking" | "membership"
    id: UUID
    event_id: UUID
    member_id: UUID
    price_cents: int
    charged_cents: int
    used_on: date
    space_id: UUID | None = None
    resource_kind: str | None = None


def subsidy_rules(row: asyncpg.Record) -> domain.SubsidyRules:
    return domain.SubsidyRules(
        coverage_pct=row["coverage_pct"], cap_per_beneficiary_cents=row["cap_per_beneficiary_cents"],
        cap_per_year_cents=row["cap_per_year_cents"],
        kind_caps_cents={k: int(v) for k, v in (row["kind_caps_cents"] or {}).items()},
        min_eligible_cost_cents=row["min_eligible_cost_cents"])


async def redeem(conn: asyncpg.Connection, source: Source, now: datetime) -> bool:
    """Redeem one source (see `redeem_many`); whether anything was paid."""
    return await redeem_many(conn, [source], now) == 1


async def redeem_many(conn: asyncpg.Connection, sources: Sequence[Source], now: datetime
                      ) -> int:
    """Pay coverage% of each charge, in the order given, from the member's first voucher that
    covers it (caps and remaining balance applied): committed -> disbursed. At most once per
    source event, and once per booking. A batch is read in four queries — candidates, then
    their programmes' balances locked (by id), then their vouchers locked with what they have
    paid, then the statements issued — and written in one. Returns how many were paid."""
    candidates: dict[int, list[asyncpg.Record]] = {}
    for row in await store.redeemable(conn, sources):
        candidates.setdefault(row["idx"], []).append(row)
    if not candidates:
        return 0
    programme_ids = sorted({c["programme_id"] for rows in candidates.values() for c in rows})
    balances = await store.lock_all_balances(conn, programme_ids)
    vouchers = {voucher_id: _VoucherState.of(row) for voucher_id, row in (
        await store.lock_vouchers_for_redemption(conn, sorted(
            {c["voucher_id"] for rows in candidates.values() for c in rows}))).items()}
    period = month_of(now)
    issued = await store.issued_periods_of(conn, programme_ids, period)
    seen: set[UUID] = set()  # events and bookings paid in this batch
    paid = _PaidBatch(now)
    for index, source in enumerate(sources):
        if source.event_id in seen or (source.type == "booking" and source.id in seen):
            continue
        for candidate in candidates.get(index, []):
            voucher = vouchers[candidate["voucher_id"]]
            if voucher.status != "active" or voucher.remaining_cents == 0:
                continue
            subsidy = domain.subsidy_for(
                subsidy_rules(candidate), source.charged_cents, source.resource_kind,
                domain.Usage(remaining_cents=voucher.remaining_cents,
                             by_kind_cents=dict(voucher.by_kind),
                             this_year_cents=voucher.by_year.get(source.used_on.year, 0)))
            if subsidy <= 0:
                continue
            paid.add(voucher, balances[candidate["programme_id"]], source, subsidy,
                     first_unissued(period, issued.get(candidate["programme_id"], set())))
            seen.update((source.event_id, source.id))
            break
        else:
            if index in candidates and source.type == "booking" and source.charged_cents == 0:
                assert source.space_id is not None and source.resource_kind is not None
                await store.remember_unsubsidised_booking(
                    conn, booking_id=source.id, member_id=source.member_id,
                    space_id=source.space_id, resource_kind=source.resource_kind,
                    used_on=source.used_on)
    if paid.redemptions:
        await store.record_redemptions(
            conn, redemptions=paid.redemptions, statement_periods=paid.statement_periods,
            balances={p: balances[p] for p in sorted(paid.programme_ids)},
            remaining_cents={v.id: v.remaining_cents for v in paid.vouchers.values()},
            events=paid.events, now=now, source=SOURCE)
    return len(paid.redemptions)


class _PaidBatch:
    """The redemptions a batch pays, in order, gathered to be written in one statement
    (store.record_redemptions). Each one moves the locked balances and voucher in memory at
    once — the domain refuses a movement that would break an invariant (LedgerViolation) —
    so the next redemption of the batch sees what the previous ones left."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.redemptions: list[dict[str, Any]] = []
        self.statement_periods: list[str] = []
        self.events: list[store.RedemptionEvent] = []
        self.programme_ids: set[UUID] = set()
        self.vouchers: dict[UUID, _VoucherState] = {}

    def add(self, voucher: _VoucherState, balances: domain.ProgrammeBalances, source: Source,
            subsidy: int, statement_period: str) -> None:
        used_before = voucher.used_cents
        balances.apply(domain.Movement.REDEEM, subsidy)
        voucher.pay(subsidy, source.resource_kind, source.used_on.year)
        self.programme_ids.add(voucher.programme_id)
        self.vouchers[voucher.id] = voucher
        self.redemptions.append({
            "id": uuid4(), "voucher_id": voucher.id, "programme_id": voucher.programme_id,
            "member_id": source.member_id, "source_type": source.type, "source_id": source.id,
            "source_event_id": source.event_id, "space_id": source.space_id,
            "resource_kind": source.resource_kind, "used_on": source.used_on,
            "price_cents": source.price_cents, "charged_cents": source.charged_cents,
            "subsidy_cents": subsidy, "recorded_at": self.now})
        self.statement_periods.append(statement_period)
        self.events.append(store.RedemptionEvent(ev.VoucherRedeemed(
            voucher_id=voucher.id, member_id=source.member_id,
            source_type=source.type,  # type: ignore[arg-type]
            source_id=source.id, price_cents=source.charged_cents, subsidy_cents=subsidy,
            remaining_cents=voucher.remaining_cents)))
        if domain.voucher_threshold_crossed(voucher.amount_cents, used_before,
                                            voucher.used_cents):
            self.events.append(store.RedemptionEvent(ev.VoucherThresholdReached(
                voucher_id=voucher.id, member_id=source.member_id, threshold_pct=80,
                remaining_cents=voucher.remaining_cents), threshold_of=voucher.id))


@dataclass
class _VoucherState:
    """A locked voucher as a batch of redemptions changes it."""

    id: UUID
    programme_id: UUID
    status: str
    amount_cents: int
    remaining_cents: int
    released_cents: int
    by_kind: dict[str, int]
    by_year: dict[int, int]

    @classmethod
    def of(cls, row: asyncpg.Record) -> _VoucherState:
        return cls(row["id"], row["programme_id"], row["status"], row["amount_cents"],
                   row["remaining_cents"], row["released_cents"],
                   {k: int(v) for k, v in row["by_kind"].items()},
                   {int(y): int(v) for y, v in row["by_year"].items()})

    @property
    def used_cents(self) -> int:
        return self.amount_cents - self.remaining_cents - self.released_cents

    def pay(self, subsidy: int, kind: str | None, year: int) -> None:
        self.remaining_cents -= subsidy
        if kind is not None:
            self.by_kind[kind] = self.by_kind.get(kind, 0) + subsidy
        self.by_year[year] = self.by_year.get(year, 0) + subsidy


def first_unissued(period: str, issued: set[str]) -> str:
    """`period`, or the first later month whose statement is not issued yet."""
    while period in issued:
        period = next_month(period)
    return period


async def reverse_booking(conn: asyncpg.Connection, *, booking_id: UUID, late: bool,
                          late_charge_cents: int, event_id: UUID, now: datetime) -> bool:
    """A cancelled booking gives its subsidy back (disbursed -> committed), all of it unless
    the cancellation was late: then the subsidy on the late charge stays paid. On a voucher
    that has ended meanwhile the money goes on to available."""
    found = await store.booking_redemption(conn, booking_id)
    if found is None:
        if late and late_charge_cents > 0:
            return await _subsidise_late_charge(conn, booking_id, late_charge_cents, event_id,
                                                now)
        return False
    balances = await locked_balances(conn, found["programme_id"])
    voucher = await store.voucher_by_id(conn, found["voucher_id"], for_update=True)
    redemption = await store.lock_redemption(conn, found["id"])
    assert voucher is not None
    if redemption["reversed_cents"] > 0:
        return False
    amount = domain.reversal_for(redemption["subsidy_cents"], found["coverage_pct"], late,
                                 late_charge_cents)
    if amount <= 0:
        return False
    programme_id = redemption["programme_id"]
    await post(conn, programme_id, balances, domain.Movement.REVERSE, amount, now,
               voucher_id=voucher["id"], member_id=redemption["member_id"],
               source_type="booking", source_id=booking_id, source_event_id=event_id,
               space_id=redemption["space_id"], price_cents=redemption["charged_cents"],
               reason="late_cancellation" if late else "cancellation",
               statement_period=await statement_period_for(conn, programme_id, now))
    await store.add_reversed(conn, redemption["id"], amount)
    if voucher["status"] == "active":
        remaining = voucher["remaining_cents"] + amount
        await store.set_remaining(conn, voucher["id"], remaining)
    else:
        remaining = 0
        await post(conn, programme_id, balances, domain.Movement.RELEASE, amount, now,
                   voucher_id=voucher["id"], member_id=redemption["member_id"],
                   reason="reversal_after_end")
        await store.add_released(conn, voucher["id"], amount)
        await _fund_waitlist(conn, programme_id, balances, now)
    await add_event(conn, ev.VoucherRedemptionReversed(
        voucher_id=voucher["id"], member_id=redemption["member_id"], source_type="booking",
        source_id=booking_id, reversed_cents=amount, remaining_cents=remaining), source=SOURCE)
    return True


async def _subsidise_late_charge(conn: asyncpg.Connection, booking_id: UUID,
                                 late_charge_cents: int, event_id: UUID, now: datetime) -> bool:
    """A booking the plan included (nothing subsidised) cancelled late: the late-cancellation
    charge is what the member pays, so it is redeemed like a charge, on the booking's day."""
    booking = await store.unsubsidised_booking(conn, booking_id)
    if booking is None:
        return False
    return await redeem(conn, Source(
        type="booking", id=booking_id, event_id=event_id, member_id=booking["member_id"],
        price_cents=late_charge_cents, charged_cents=late_charge_cents,
        used_on=booking["used_on"], space_id=booking["space_id"],
        resource_kind=booking["resource_kind"]), now)


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """GDPR erasure: personal data goes; the member has left, so their pending and waiting
    applications are withdrawn and their active vouchers revoked (reason `member_erased`),
    which gives the unspent money back to the programme. Accounting facts stay."""
    await store.forget_member(conn, member_id, now)
    for application in await store.live_applications_of(conn, member_id):
        await _reject(conn, application, [MEMBER_ERASED], now)
    for voucher_id in await store.active_vouchers_of(conn, member_id):
        await _end_voucher(conn, voucher_id, status="revoked", reason=MEMBER_ERASED, now=now)


MEMBER_ERASED = "member_erased"


# ---------------------------------------------------------------- scheduled jobs


async def expire_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    await _end_voucher(conn, UUID(job.key), status="expired", reason=None, now=now)


async def expiring_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    voucher = await store.voucher_by_id(conn, UUID(job.key))
    if voucher is None or voucher["status"] != "active":
        return
    if await store.mark_threshold(conn, voucher["id"], "expiring_14d", now):
        await add_event(conn, ev.VoucherExpiring(
            voucher_id=voucher["id"], member_id=voucher["member_id"],
            valid_until=voucher["valid_until"], remaining_cents=voucher["remaining_cents"]),
            source=SOURCE)


async def condition_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    """A conditional grant whose deadline passed without a partita IVA is revoked."""
    voucher = await store.voucher_by_id(conn, UUID(job.key))
    if voucher is None or voucher["status"] != "active" or voucher["condition_deadline"] is None:
        return
    if domain.condition_deadline_missed(voucher["condition_deadline"],
                                        voucher["partita_iva_opened_on"], rome_date(now)):
        await _end_voucher(conn, voucher["id"], status="revoked",
                           reason="partita_iva_not_opened", now=now)


async def close_job(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
    try:
        await close_programme(conn, UUID(job.key), now)
    except Refused:  # an officer closed it first
        log.info("programme already closed", programme_id=job.key)


JOBS = {EXPIRE_JOB: expire_job, EXPIRING_JOB: expiring_job, CONDITION_JOB: condition_job,
        CLOSE_JOB: close_job}


# ---------------------------------------------------------------- statements


def statement_line(row: asyncpg.Record) -> domain.StatementLine:
    redemption = row["movement"] == domain.Movement.REDEEM.value
    return domain.StatementLine(
        entry_id=row["id"], recorded_at=row["recorded_at"],
        kind="redemption" if redemption else "reversal", voucher_id=row["voucher_id"],
        member_id=row["member_id"], space_id=row["space_id"], source_type=row["source_type"],
        source_id=row["source_id"], source_event_id=row["source_event_id"],
        price_cents=row["price_cents"],
        amount_cents=row["amount_cents"] if redemption else -row["amount_cents"])


async def render_statement(conn: asyncpg.Connection, programme_id: UUID, period: str,
                           space_id: UUID | None = None) -> domain.StatementDocument:
    """The statement built from the ledger lines assigned to `period` (at one space)."""
    rows = await store.statement_lines(conn, programme_id, period)
    return domain.render_statement(programme_id, period, [
        statement_line(r) for r in rows if space_id is None or r["space_id"] == space_id])


async def issue_statement(conn: asyncpg.Connection, programme_id: UUID, period: str,
                          now: datetime) -> asyncpg.Record:
    """Freeze the statement: its bytes and SHA-256 are stored and never change; lines recorded
    from now on go to the next month. Takes the balances lock, as recording a line does."""
    await locked_balances(conn, programme_id)
    if period > month_of(now):
        raise Refused("period_not_started", "a statement can be issued once its month has "
                      "begun", field="period")
    if await store.issued_statement(conn, programme_id, period) is not None:
        raise Refused("already_issued", "this statement was already issued", field="period")
    document = await render_statement(conn, programme_id, period)
    statement = await store.insert_statement(conn, statement_id=uuid4(),
                                             programme_id=programme_id, period=period,
                                             document=document, now=now)
    await add_event(conn, ev.StatementIssued(
        statement_id=statement["id"], programme_id=programme_id, period=period,
        redeemed_cents=document.redeemed_cents, reversed_cents=document.reversed_cents,
        net_cents=document.net_cents, lines=document.lines, sha256=document.sha256),
        source=SOURCE)
    return statement


# ---------------------------------------------------------------- accredited spaces


async def accredit(conn: asyncpg.Connection, space_id: UUID, from_date: date, reason: str,
                   now: datetime) -> asyncpg.Record:
    if await store.open_accreditation(conn, space_id) is not None:
        raise Refused("already_accredited", "this space is already accredited; end the "
                      "accreditation first", field="space_id")
    try:
        async with conn.transaction():
            return await store.insert_accreditation(conn, accreditation_id=uuid4(),
                                                    space_id=space_id, from_date=from_date,
                                                    reason=reason, now=now)
    except asyncpg.UniqueViolationError as exc:  # a concurrent accreditation won
        raise Refused("already_accredited", "this space is already accredited",
                      field="space_id") from exc


async def end_accreditation(conn: asyncpg.Connection, space_id: UUID, now: datetime
                            ) -> asyncpg.Record:
    """Costs from today on no longer count (the accreditation's end is exclusive)."""
    ended = await store.end_accreditation(conn, space_id, rome_date(now))
    if ended is None:
        raise NotFound("accreditation of space", space_id)
    return ended
