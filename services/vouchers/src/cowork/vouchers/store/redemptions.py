"""Redemptions: the vouchers that could pay for a batch of sources, the batch written in one
statement, and what a cancellation reads and reverses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from cowork.shared import outbox
from cowork.shared.events import contracts as ev
from cowork.vouchers.domain import ledger
from cowork.vouchers.domain.ledger import ProgrammeBalances

Row = asyncpg.Record


# The vouchers that could pay for each of a batch of sources (bookings and memberships, one
# row per source in `e`), best first: the one expiring first. Read without locks; the caller
# locks what it uses and checks again.
_REDEEMABLE = """
SELECT e.idx, v.id AS voucher_id, v.programme_id, p.coverage_pct, p.cap_per_beneficiary_cents,
       p.cap_per_year_cents, p.kind_caps_cents, p.min_eligible_cost_cents
FROM unnest($1::int[], $2::uuid[], $3::date[], $4::uuid[], $5::uuid[], $6::uuid[], $7::text[])
     AS e (idx, member_id, used_on, event_id, booking_id, space_id, kind)
JOIN vouchers v ON v.member_id = e.member_id AND v.status = 'active' AND v.remaining_cents > 0
     AND v.valid_from <= e.used_on AND e.used_on <= v.valid_until
     -- a conditional grant pays nothing until its condition is met
     AND (v.condition_deadline IS NULL OR v.partita_iva_opened_on IS NOT NULL)
JOIN programmes p ON p.id = v.programme_id
WHERE
  -- nothing for an event already redeemed, or a booking redeemed by another event
  NOT EXISTS (SELECT 1 FROM redemptions r WHERE r.source_event_id = e.event_id
              OR (r.source_type = 'booking' AND r.source_id = e.booking_id))
  AND CASE WHEN e.kind IS NULL THEN (p.subsidises ->> 'memberships')::boolean
      -- a booking: of a subsidised kind, at a space accredited on that day, among the
      -- programme's spaces, with enough desks
      ELSE (p.subsidises ->> 'bookings')::boolean
        AND (jsonb_array_length(coalesce(p.subsidises -> 'resource_kinds', '[]'::jsonb)) = 0
             OR p.subsidises -> 'resource_kinds' ? e.kind)
        AND (p.accredited_space_ids IS NULL OR e.space_id = ANY (p.accredited_space_ids))
        AND EXISTS (SELECT 1 FROM accredited_spaces a WHERE a.space_id = e.space_id
                    AND a.from_date <= e.used_on
                    AND (a.until_date IS NULL OR e.used_on < a.until_date))
        AND (p.min_desks = 0 OR p.min_desks <= (
              SELECT count(*) FROM space_resources r
              WHERE r.space_id = e.space_id AND r.kind IN ('hot_desk', 'fixed_desk')
                AND r.in_service))
      END
ORDER BY e.idx, v.valid_until, v.granted_at, v.id
"""


async def redeemable(conn: asyncpg.Connection, sources: Sequence[Any]) -> list[Row]:
    """Candidate vouchers of each source (objects with member_id, used_on, event_id, type,
    id, space_id, resource_kind), tagged with the source's index."""
    return list(await conn.fetch(
        _REDEEMABLE, list(range(len(sources))), [s.member_id for s in sources],
        [s.used_on for s in sources], [s.event_id for s in sources],
        [s.id if s.type == "booking" else None for s in sources],
        [s.space_id for s in sources], [s.resource_kind for s in sources]))


_REDEMPTION_COLUMNS = ("id", "voucher_id", "programme_id", "member_id", "source_type",
                       "source_id", "source_event_id", "space_id", "resource_kind", "used_on",
                       "price_cents", "charged_cents", "subsidy_cents", "recorded_at")
_REDEMPTION_TYPES = ("uuid", "uuid", "uuid", "uuid", "text", "uuid", "uuid", "uuid", "text",
                     "date", "bigint", "bigint", "bigint", "timestamptz")
# A batch of redemptions in one statement, every table written set-wise from arrays (one
# array per column, row i of each being one redemption): each redemption's ledger transaction
# (its id is the redemption's) and its two postings, the programmes' balances and the
# vouchers' remaining balances as the batch leaves them, the redemptions, the vouchers that
# crossed 80 % marked, and the events — in the batch's order; a threshold event only when its
# mark was new (each threshold is emitted once). The database checks at commit that each
# transaction's postings sum to zero.
_RECORD_REDEMPTIONS = f"""
WITH entries AS (
    INSERT INTO ledger_transactions (id, programme_id, movement, amount_cents, recorded_at,
        voucher_id, member_id, source_type, source_id, source_event_id, space_id, price_cents,
        statement_period)
    SELECT r.id, r.programme_id, 'redeem', r.subsidy_cents, r.recorded_at, r.voucher_id,
           r.member_id, r.source_type, r.source_id, r.source_event_id, r.space_id,
           r.charged_cents, r.statement_period
    FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_REDEMPTION_TYPES, start=1))},
                $15::text[]) WITH ORDINALITY
         AS r ({", ".join(_REDEMPTION_COLUMNS)}, statement_period, ord)
    ORDER BY r.ord
), postings AS (
    INSERT INTO ledger_postings (transaction_id, account, amount_cents)
    SELECT id, account, amount_cents
    FROM unnest($16::uuid[], $17::text[], $18::bigint[]) AS p (id, account, amount_cents)
), balances AS (
    UPDATE programme_balances b SET available_cents = n.available_cents,
        committed_cents = n.committed_cents, disbursed_cents = n.disbursed_cents
    FROM unnest($19::uuid[], $20::bigint[], $21::bigint[], $22::bigint[])
         AS n (programme_id, available_cents, committed_cents, disbursed_cents)
    WHERE b.programme_id = n.programme_id
), redeemed AS (
    INSERT INTO redemptions ({", ".join(_REDEMPTION_COLUMNS)})
    SELECT * FROM unnest({", ".join(f"${i}::{t}[]" for i, t in enumerate(_REDEMPTION_TYPES, start=1))})
), vouchers_left AS (
    UPDATE vouchers v SET remaining_cents = n.remaining_cents
    FROM unnest($23::uuid[], $24::bigint[]) AS n (id, remaining_cents)
    WHERE v.id = n.id
), marked AS (
    INSERT INTO thresholds_emitted (subject_id, threshold, emitted_at)
    SELECT subject_id, 'voucher_80', $25 FROM unnest($26::uuid[]) AS t (subject_id)
    ON CONFLICT DO NOTHING
    RETURNING subject_id
)
{outbox.INSERT_INTO_OUTBOX}
SELECT e.id, e.topic, e.key, e.type, e.payload::jsonb, e.headers::jsonb
FROM unnest($27::uuid[], $28::text[], $29::text[], $30::text[], $31::text[], $32::text[],
            $33::uuid[]) WITH ORDINALITY
     AS e (id, topic, key, type, payload, headers, threshold_of, ord)
WHERE e.threshold_of IS NULL OR e.threshold_of IN (SELECT subject_id FROM marked)
ORDER BY e.ord
"""  # noqa: S608 - composed from constants only, never from input


@dataclass(frozen=True)
class RedemptionEvent:
    """An event of a batch of redemptions; `threshold_of` names the voucher whose 80 % mark
    it announces (written only if that mark is new), None for a redemption's own event."""

    event: ev.DomainEvent
    threshold_of: UUID | None = None
    # The consumed event it derives from: its id is derived from that one's, so the event
    # written again when a restored database re-applies the source has the same id.
    cause: UUID | None = None


async def record_redemptions(conn: asyncpg.Connection, *, redemptions: Sequence[dict[str, Any]],
                             statement_periods: Sequence[str],
                             balances: dict[UUID, ProgrammeBalances],
                             remaining_cents: dict[UUID, int],
                             events: Sequence[RedemptionEvent], now: datetime,
                             source: str) -> None:
    """A batch of redemptions — ledger, balances, redemptions, vouchers, thresholds and events
    — in one round trip (see _RECORD_REDEMPTIONS). `redemptions` in the order they were paid,
    each with its ledger transaction's statement period beside it; `balances` and
    `remaining_cents` as the batch leaves them."""
    postings = [(r["id"], p) for r in redemptions
                for p in ledger.postings(ledger.Movement.REDEEM, r["subsidy_cents"])]
    rows = []
    for e in events:
        _, values = outbox.outbox_values(
            e.event, source=source,
            event_id=None if e.cause is None else outbox.derived_event_id(e.cause, e.event))
        rows.append((*values[:4], json.dumps(values[4]), json.dumps(values[5]), e.threshold_of))
    await conn.execute(
        _RECORD_REDEMPTIONS,
        *([r[c] for r in redemptions] for c in _REDEMPTION_COLUMNS), list(statement_periods),
        [t for t, _ in postings], [p.account.value for _, p in postings],
        [p.amount_cents for _, p in postings],
        list(balances), [b.available_cents for b in balances.values()],
        [b.committed_cents for b in balances.values()],
        [b.disbursed_cents for b in balances.values()],
        list(remaining_cents), list(remaining_cents.values()),
        now, [e.threshold_of for e in events if e.threshold_of is not None],
        *([row[i] for row in rows] for i in range(7)))


async def lock_vouchers_for_redemption(conn: asyncpg.Connection, voucher_ids: Sequence[UUID]
                                       ) -> dict[UUID, Row]:
    """Vouchers locked (after their programmes' balances, by id), each with what it has paid
    net of reversals by resource kind and by calendar year. Read after the balances are
    locked, so no redemption of theirs is in flight."""
    rows = await conn.fetch(
        """
        SELECT v.*,
               (SELECT coalesce(jsonb_object_agg(k.kind, k.net), '{}'::jsonb) FROM (
                    SELECT resource_kind AS kind, sum(subsidy_cents - reversed_cents) AS net
                    FROM redemptions WHERE voucher_id = v.id AND resource_kind IS NOT NULL
                    GROUP BY resource_kind) k) AS by_kind,
               (SELECT coalesce(jsonb_object_agg(y.year, y.net), '{}'::jsonb) FROM (
                    SELECT extract(year FROM used_on)::int::text AS year,
                           sum(subsidy_cents - reversed_cents) AS net
                    FROM redemptions WHERE voucher_id = v.id GROUP BY 1) y) AS by_year
        FROM vouchers v WHERE v.id = ANY($1::uuid[])
        ORDER BY v.id
        FOR UPDATE OF v
        """, list(voucher_ids))
    return {r["id"]: r for r in rows}


async def remember_unsubsidised_booking(conn: asyncpg.Connection, *, booking_id: UUID,
                                        member_id: UUID, space_id: UUID, resource_kind: str,
                                        used_on: date) -> None:
    await conn.execute(
        "INSERT INTO unsubsidised_bookings (booking_id, member_id, space_id, resource_kind, "
        "used_on) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        booking_id, member_id, space_id, resource_kind, used_on)


async def unsubsidised_booking(conn: asyncpg.Connection, booking_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM unsubsidised_bookings WHERE booking_id = $1", booking_id)
    return row


async def booking_redemption(conn: asyncpg.Connection, booking_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT r.*, p.coverage_pct FROM redemptions r JOIN programmes p ON p.id = r.programme_id "
        "WHERE r.source_type = 'booking' AND r.source_id = $1", booking_id)
    return row


async def add_reversed(conn: asyncpg.Connection, redemption_id: UUID, reversed_cents: int) -> None:
    await conn.execute("UPDATE redemptions SET reversed_cents = reversed_cents + $2 "
                       "WHERE id = $1", redemption_id, reversed_cents)


async def lock_redemption(conn: asyncpg.Connection, redemption_id: UUID) -> Row:
    row: Row = await conn.fetchrow("SELECT * FROM redemptions WHERE id = $1 FOR UPDATE",
                                   redemption_id)
    return row
