"""Clawback (issue 19): subsidies are decided at booking.confirmed for days that may be weeks
ahead, and a renewal is paid before its period. When a voucher is revoked, or a space's
accreditation ends, what was already paid for use after the end is reversed in the same
transaction — disbursed -> committed, with a ledger entry and a statement line in the current
month for each, and `voucher.redemption_reversed` — and goes back to the programme: released
with the rest of a voucher that ends, back on a voucher that goes on (it may pay elsewhere).

Lock order, as everywhere: programmes' balances, then vouchers, then redemptions. The end of an
accreditation locks every programme's balances first (any programme may pay at any space), so a
booking.confirmed redeemed at the same time either commits first (and is reversed here) or
waits and, once the end is committed, finds the space no longer accredited
(`redemptions.redeem_many` checks again under its locks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from uuid import UUID

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event
from cowork.vouchers.commands.grants import fund_waitlist
from cowork.vouchers.commands.ledger import SOURCE, post, statement_period_for
from cowork.vouchers.domain.ledger import Movement, ProgrammeBalances
from cowork.vouchers.store import clawback as clawback_store
from cowork.vouchers.store import redemptions as redemptions_store
from cowork.vouchers.store import vouchers as vouchers_store

REVOKED = "voucher_revoked"
ACCREDITATION_ENDED = "accreditation_ended"


async def claw_back_voucher(conn: asyncpg.Connection, voucher: asyncpg.Record,
                            balances: ProgrammeBalances, *, after: date,
                            now: datetime) -> int:
    """The voucher (locked, with its programme's balances) is ending: every subsidy it paid for
    use after `after` is reversed onto it, for the caller to release with what is left.
    Returns how much came back."""
    redemptions = await clawback_store.lock_voucher_redemptions_after(conn, voucher["id"], after)
    if not redemptions:
        return 0
    period = await statement_period_for(conn, voucher["programme_id"], now)
    remaining: int = voucher["remaining_cents"]
    clawed_back = 0
    for redemption in redemptions:
        clawed_back += _unreversed(redemption)
        await _reverse(conn, redemption, balances, REVOKED, period, now,
                       remaining_cents=remaining + clawed_back)
    return clawed_back


async def claw_back_space(conn: asyncpg.Connection, space_id: UUID, first_day: date,
                          balances: dict[UUID, ProgrammeBalances], now: datetime) -> int:
    """The space's accreditation ended before `first_day`: every booking there from that day
    on gives its subsidy back (every programme's `balances` locked by the caller). Returns how
    many subsidies were reversed."""
    redemptions = await clawback_store.lock_space_redemptions_from(conn, space_id, first_day)
    if not redemptions:
        return 0
    vouchers = await clawback_store.lock_vouchers(
        conn, sorted({r["voucher_id"] for r in redemptions}))
    periods = {p: await statement_period_for(conn, p, now)
               for p in sorted({r["programme_id"] for r in redemptions})}
    for voucher_id, voucher in vouchers.items():
        await _give_back(conn, voucher, [r for r in redemptions if r["voucher_id"] == voucher_id],
                         balances[voucher["programme_id"]],
                         periods[voucher["programme_id"]], now)
    for programme_id in periods:
        await fund_waitlist(conn, programme_id, balances[programme_id], now)
    return len(redemptions)


async def _give_back(conn: asyncpg.Connection, voucher: asyncpg.Record,
                     redemptions: Sequence[asyncpg.Record], balances: ProgrammeBalances,
                     period: str, now: datetime) -> None:
    """Back onto a voucher still active; straight on to available for one that has ended (it
    can no longer spend it), as a cancellation's reversal does."""
    active = voucher["status"] == "active"
    remaining = voucher["remaining_cents"]
    for redemption in redemptions:
        amount = _unreversed(redemption)
        if active:
            remaining += amount
        await _reverse(conn, redemption, balances, ACCREDITATION_ENDED, period, now,
                       remaining_cents=remaining if active else 0)
        if not active:
            await post(conn, voucher["programme_id"], balances, Movement.RELEASE, amount, now,
                       voucher_id=voucher["id"], member_id=voucher["member_id"],
                       reason="reversal_after_end")
            await vouchers_store.add_released(conn, voucher["id"], amount)
    if active:
        await vouchers_store.set_remaining(conn, voucher["id"], remaining)


def _unreversed(redemption: asyncpg.Record) -> int:
    return int(redemption["subsidy_cents"] - redemption["reversed_cents"])


async def _reverse(conn: asyncpg.Connection, redemption: asyncpg.Record,
                   balances: ProgrammeBalances, reason: str, period: str, now: datetime, *,
                   remaining_cents: int) -> None:
    """What is left of one subsidy, reversed (disbursed -> committed): the ledger entry (its
    source the redemption's: the statement line points at the booking or membership paid
    for), the redemption marked, and the event with what its voucher has left after it."""
    amount = _unreversed(redemption)
    await post(conn, redemption["programme_id"], balances, Movement.REVERSE, amount, now,
               voucher_id=redemption["voucher_id"], member_id=redemption["member_id"],
               source_type=redemption["source_type"], source_id=redemption["source_id"],
               source_event_id=redemption["source_event_id"], space_id=redemption["space_id"],
               price_cents=redemption["charged_cents"], reason=reason,
               statement_period=period)
    await redemptions_store.add_reversed(conn, redemption["id"], amount)
    await add_event(conn, ev.VoucherRedemptionReversed(
        voucher_id=redemption["voucher_id"], member_id=redemption["member_id"],
        source_type=redemption["source_type"], source_id=redemption["source_id"],
        reversed_cents=amount, remaining_cents=remaining_cents), source=SOURCE)
