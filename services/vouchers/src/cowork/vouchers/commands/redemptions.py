"""Redemptions: bookings and memberships paid from the member's vouchers, in batches, and a
cancelled booking's subsidy given back."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.grants import fund_waitlist
from cowork.vouchers.commands.ledger import SOURCE, locked_balances, post, statement_period_for
from cowork.vouchers.domain.ledger import Movement
from cowork.vouchers.domain.redemptions import (
    Option,
    PaidBatch,
    Payment,
    Source,
    SubsidyRules,
    VoucherState,
    reversal_for,
)
from cowork.vouchers.domain.statements import first_unissued, month_of
from cowork.vouchers.store import ledger as ledger_store
from cowork.vouchers.store import redemptions as redemptions_store
from cowork.vouchers.store import statements as statements_store
from cowork.vouchers.store import vouchers as vouchers_store
from cowork.vouchers.store.redemptions import RedemptionEvent


def subsidy_rules(row: asyncpg.Record) -> SubsidyRules:
    return SubsidyRules(
        coverage_pct=row["coverage_pct"], cap_per_beneficiary_cents=row["cap_per_beneficiary_cents"],
        cap_per_year_cents=row["cap_per_year_cents"],
        kind_caps_cents={k: int(v) for k, v in (row["kind_caps_cents"] or {}).items()},
        min_eligible_cost_cents=row["min_eligible_cost_cents"])


def voucher_state(row: asyncpg.Record) -> VoucherState:
    """A voucher locked for redemption, with what it has paid by kind and by year (JSON)."""
    return VoucherState(row["id"], row["programme_id"], row["status"], row["amount_cents"],
                        row["remaining_cents"], row["released_cents"],
                        {k: int(v) for k, v in row["by_kind"].items()},
                        {int(y): int(v) for y, v in row["by_year"].items()})


async def redeem(conn: asyncpg.Connection, source: Source, now: datetime) -> bool:
    """Redeem one source (see `redeem_many`); whether anything was paid."""
    return await redeem_many(conn, [source], now) == 1


async def redeem_many(conn: asyncpg.Connection, sources: Sequence[Source], now: datetime
                      ) -> int:
    """Pay coverage% of each charge, in the order given, from the member's first voucher that
    covers it (caps and remaining balance applied): committed -> disbursed. At most once per
    source event, and once per booking. A batch is read in four queries — candidates, then
    their programmes' balances locked (by id), then their vouchers locked with what they have
    paid, then the statements issued; with bookings, the candidates once more under those
    locks (an accreditation may have ended meanwhile) — and written in one. Returns how many
    were paid."""
    candidates: dict[int, list[asyncpg.Record]] = {}
    for row in await redemptions_store.redeemable(conn, sources):
        candidates.setdefault(row["idx"], []).append(row)
    if not candidates:
        return 0
    options = await _lock_options(conn, candidates, month_of(now))
    if any(source.space_id is not None for source in sources):
        options = await _still_redeemable(conn, sources, options)
    batch = PaidBatch()
    for index, source in enumerate(sources):
        if batch.already_paid(source):
            continue
        if batch.pay_first(source, options.get(index, [])) is None and index in candidates \
                and source.type == "booking" and source.charged_cents == 0:
            # Included in the member's plan: remembered, in case a late cancellation charges it.
            assert source.space_id is not None and source.resource_kind is not None
            await redemptions_store.remember_unsubsidised_booking(
                conn, booking_id=source.id, member_id=source.member_id,
                space_id=source.space_id, resource_kind=source.resource_kind,
                used_on=source.used_on)
    if batch.payments:
        await _record(conn, batch, now)
    return len(batch.payments)


async def _lock_options(conn: asyncpg.Connection, candidates: dict[int, list[asyncpg.Record]],
                        period: str) -> dict[int, list[Option]]:
    """Each source's candidate vouchers, best first, with their programmes' balances and
    vouchers locked (balances first, each set by id) and the statement period of each."""
    programme_ids = sorted({c["programme_id"] for rows in candidates.values() for c in rows})
    balances = await ledger_store.lock_all_balances(conn, programme_ids)
    vouchers = {voucher_id: voucher_state(row) for voucher_id, row in (
        await redemptions_store.lock_vouchers_for_redemption(conn, sorted(
            {c["voucher_id"] for rows in candidates.values() for c in rows}))).items()}
    issued = await statements_store.issued_periods_of(conn, programme_ids, period)
    return {index: [Option(vouchers[c["voucher_id"]], subsidy_rules(c),
                           balances[c["programme_id"]],
                           first_unissued(period, issued.get(c["programme_id"], set())))
                    for c in rows]
            for index, rows in candidates.items()}


async def _still_redeemable(conn: asyncpg.Connection, sources: Sequence[Source],
                            options: dict[int, list[Option]]) -> dict[int, list[Option]]:
    """The candidates were read before the locks: an accreditation that ended meanwhile held
    every programme's balances until it committed (clawback), so read again now that they are
    ours — a booking at a space no longer accredited that day pays nothing. (A voucher that
    ended meanwhile shows it in the locked row's status.)"""
    still = {(row["idx"], row["voucher_id"])
             for row in await redemptions_store.redeemable(conn, sources)}
    return {index: [o for o in found if (index, o.voucher.id) in still]
            for index, found in options.items()}


async def _record(conn: asyncpg.Connection, batch: PaidBatch, now: datetime) -> None:
    """The batch written in one statement (store.record_redemptions)."""
    events: list[RedemptionEvent] = []
    for payment in batch.payments:
        events.extend(_events_of(payment))
    await redemptions_store.record_redemptions(
        conn, redemptions=[_redemption_row(p, now) for p in batch.payments],
        statement_periods=[p.statement_period for p in batch.payments],
        balances={p: batch.balances[p] for p in sorted(batch.balances)},
        remaining_cents={v.id: v.remaining_cents for v in batch.vouchers.values()},
        events=events, now=now, source=SOURCE)


def _redemption_row(payment: Payment, now: datetime) -> dict[str, Any]:
    source = payment.source
    return {
        "id": uuid4(), "voucher_id": payment.voucher_id, "programme_id": payment.programme_id,
        "member_id": source.member_id, "source_type": source.type, "source_id": source.id,
        "source_event_id": source.event_id, "space_id": source.space_id,
        "resource_kind": source.resource_kind, "used_on": source.used_on,
        "price_cents": source.price_cents, "charged_cents": source.charged_cents,
        "subsidy_cents": payment.subsidy_cents, "recorded_at": now}


def _events_of(payment: Payment) -> list[RedemptionEvent]:
    """The redemption's event, and the voucher's 80 % mark when this payment crossed it."""
    source = payment.source
    events = [RedemptionEvent(ev.VoucherRedeemed(
        voucher_id=payment.voucher_id, member_id=source.member_id,
        source_type=source.type,  # type: ignore[arg-type]
        source_id=source.id, price_cents=source.charged_cents,
        subsidy_cents=payment.subsidy_cents, remaining_cents=payment.remaining_cents),
        cause=source.event_id)]
    if payment.threshold_crossed:
        events.append(RedemptionEvent(ev.VoucherThresholdReached(
            voucher_id=payment.voucher_id, member_id=source.member_id, threshold_pct=80,
            remaining_cents=payment.remaining_cents), threshold_of=payment.voucher_id,
            cause=source.event_id))
    return events


async def reverse_booking(conn: asyncpg.Connection, *, booking_id: UUID, late: bool,
                          late_charge_cents: int, event_id: UUID, now: datetime) -> bool:
    """A cancelled booking gives its subsidy back (disbursed -> committed), all of it unless
    the cancellation was late: then the subsidy on the late charge stays paid. On a voucher
    that has ended meanwhile the money goes on to available."""
    found = await redemptions_store.booking_redemption(conn, booking_id)
    if found is None:
        if late and late_charge_cents > 0:
            return await _subsidise_late_charge(conn, booking_id, late_charge_cents, event_id,
                                                now)
        return False
    balances = await locked_balances(conn, found["programme_id"])
    voucher = await vouchers_store.voucher_by_id(conn, found["voucher_id"], for_update=True)
    redemption = await redemptions_store.lock_redemption(conn, found["id"])
    assert voucher is not None
    if redemption["reversed_cents"] > 0:
        return False
    amount = reversal_for(redemption["subsidy_cents"], found["coverage_pct"], late,
                          late_charge_cents)
    if amount <= 0:
        return False
    programme_id = redemption["programme_id"]
    await post(conn, programme_id, balances, Movement.REVERSE, amount, now,
               voucher_id=voucher["id"], member_id=redemption["member_id"],
               source_type="booking", source_id=booking_id, source_event_id=event_id,
               space_id=redemption["space_id"], price_cents=redemption["charged_cents"],
               reason="late_cancellation" if late else "cancellation",
               statement_period=await statement_period_for(conn, programme_id, now))
    await redemptions_store.add_reversed(conn, redemption["id"], amount)
    if voucher["status"] == "active":
        remaining = voucher["remaining_cents"] + amount
        await vouchers_store.set_remaining(conn, voucher["id"], remaining)
    else:
        remaining = 0
        await post(conn, programme_id, balances, Movement.RELEASE, amount, now,
                   voucher_id=voucher["id"], member_id=redemption["member_id"],
                   reason="reversal_after_end")
        await vouchers_store.add_released(conn, voucher["id"], amount)
        await fund_waitlist(conn, programme_id, balances, now)
    await add_event(conn, ev.VoucherRedemptionReversed(
        voucher_id=voucher["id"], member_id=redemption["member_id"], source_type="booking",
        source_id=booking_id, reversed_cents=amount, remaining_cents=remaining), source=SOURCE)
    return True


async def _subsidise_late_charge(conn: asyncpg.Connection, booking_id: UUID,
                                 late_charge_cents: int, event_id: UUID, now: datetime) -> bool:
    """A booking the plan included (nothing subsidised) cancelled late: the late-cancellation
    charge is what the member pays, so it is redeemed like a charge, on the booking's day."""
    booking = await redemptions_store.unsubsidised_booking(conn, booking_id)
    if booking is None:
        return False
    return await redeem(conn, Source(
        type="booking", id=booking_id, event_id=event_id, member_id=booking["member_id"],
        price_cents=late_charge_cents, charged_cents=late_charge_cents,
        used_on=booking["used_on"], space_id=booking["space_id"],
        resource_kind=booking["resource_kind"]), now)
