"""Every SQL statement of the vouchers service; functions take the caller's connection, so the
caller owns the transaction (and the outbox row written beside each change)."""

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
from cowork.vouchers import domain

Row = asyncpg.Record

# ---------------------------------------------------------------- programmes

_PROGRAMME_COLUMNS = (
    "id", "name", "budget_cents", "coverage_pct", "cap_per_beneficiary_cents",
    "cap_per_year_cents", "kind_caps_cents", "min_eligible_cost_cents", "valid_from",
    "valid_until", "max_duration_months", "selection_mode", "application_deadline", "criteria",
    "rna_code", "eligibility", "subsidises", "accredited_space_ids", "min_desks", "opened_at",
)

_PROGRAMME_WITH_BALANCES = """
SELECT p.*, b.available_cents, b.committed_cents, b.disbursed_cents
FROM programmes p JOIN programme_balances b ON b.programme_id = p.id
"""


async def insert_programme(conn: asyncpg.Connection, programme: dict[str, Any]) -> None:
    columns = ", ".join(_PROGRAMME_COLUMNS)
    params = ", ".join(f"${i}" for i in range(1, len(_PROGRAMME_COLUMNS) + 1))
    await conn.execute(f"INSERT INTO programmes ({columns}) VALUES ({params})",  # noqa: S608 - names from code
                       *(programme[c] for c in _PROGRAMME_COLUMNS))


async def insert_balances(conn: asyncpg.Connection, programme_id: UUID,
                          balances: domain.ProgrammeBalances) -> None:
    """The balances row, written with the opening entry (the budget, available)."""
    await conn.execute(
        "INSERT INTO programme_balances (programme_id, budget_cents, available_cents, "
        "committed_cents, disbursed_cents) VALUES ($1, $2, $3, $4, $5)",
        programme_id, balances.budget_cents, balances.available_cents,
        balances.committed_cents, balances.disbursed_cents)


async def programme_by_id(conn: asyncpg.Connection, programme_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(_PROGRAMME_WITH_BALANCES + "WHERE p.id = $1",
                                          programme_id)
    return row


async def programmes_page(conn: asyncpg.Connection, after: tuple[datetime, UUID] | None,
                          limit: int) -> list[Row]:
    if after is None:
        return list(await conn.fetch(_PROGRAMME_WITH_BALANCES + "ORDER BY p.opened_at, p.id "
                                     "LIMIT $1", limit))
    return list(await conn.fetch(
        _PROGRAMME_WITH_BALANCES + "WHERE (p.opened_at, p.id) > ($2, $3) "
        "ORDER BY p.opened_at, p.id LIMIT $1", limit, *after))


async def close_programme(conn: asyncpg.Connection, programme_id: UUID, now: datetime) -> bool:
    status = await conn.execute("UPDATE programmes SET status = 'closed', closed_at = $2 "
                                "WHERE id = $1 AND status = 'open'", programme_id, now)
    return status.endswith(" 1")


# ---------------------------------------------------------------- balances and ledger


async def lock_balances(conn: asyncpg.Connection, programme_id: UUID
                        ) -> domain.ProgrammeBalances | None:
    """The programme's balances, locked until the caller's transaction ends: every movement
    of its money goes through here, one at a time."""
    row = await conn.fetchrow(
        "SELECT budget_cents, available_cents, committed_cents, disbursed_cents "
        "FROM programme_balances WHERE programme_id = $1 FOR UPDATE", programme_id)
    if row is None:
        return None
    return domain.ProgrammeBalances(row["budget_cents"], row["available_cents"],
                                    row["committed_cents"], row["disbursed_cents"])


# One statement per ledger transaction: the entry, its postings and the balances it leaves.
# Its facts are bound by name (see _TRANSACTION_FACTS), never by position in a long list.
_TRANSACTION_FACTS = ("voucher_id", "member_id", "reason", "source_type", "source_id",
                      "source_event_id", "space_id", "price_cents", "statement_period")
_FACT_TYPES = {"voucher_id": "uuid", "member_id": "uuid", "reason": "text",
               "source_type": "text", "source_id": "uuid", "source_event_id": "uuid",
               "space_id": "uuid", "price_cents": "bigint", "statement_period": "text"}
_FIRST_FACT = 10
_INSERT_TRANSACTION = f"""
WITH entry AS (
    INSERT INTO ledger_transactions (id, programme_id, movement, amount_cents, recorded_at,
                                     {", ".join(_TRANSACTION_FACTS)})
    VALUES ($1, $2, $3, $4, $5, {", ".join(
        f"${_FIRST_FACT + i}::{_FACT_TYPES[name]}" for i, name in enumerate(_TRANSACTION_FACTS))})
    RETURNING id
), postings AS (
    INSERT INTO ledger_postings (transaction_id, account, amount_cents)
    SELECT entry.id, p.account, p.amount_cents
    FROM entry, unnest($6::text[], $7::bigint[]) AS p (account, amount_cents)
)
UPDATE programme_balances SET available_cents = ($8::bigint[])[1],
    committed_cents = ($8::bigint[])[2], disbursed_cents = ($8::bigint[])[3]
WHERE programme_id = $2 AND $9::boolean
"""  # noqa: S608 - composed from constants only, never from input


async def insert_ledger_transaction(conn: asyncpg.Connection, *, transaction_id: UUID,
                                    programme_id: UUID, movement: domain.Movement,
                                    amount_cents: int, recorded_at: datetime,
                                    postings: Sequence[domain.Posting],
                                    facts: dict[str, Any],
                                    balances: domain.ProgrammeBalances | None = None) -> None:
    """The transaction with its postings, and (given) the programme's balances after it —
    one round trip. The database checks at commit that the postings sum to zero."""
    unknown = set(facts) - set(_TRANSACTION_FACTS)
    assert not unknown, f"not a ledger fact: {unknown}"
    after = [balances.available_cents, balances.committed_cents,
             balances.disbursed_cents] if balances is not None else [0, 0, 0]
    await conn.execute(
        _INSERT_TRANSACTION, transaction_id, programme_id, movement.value, amount_cents,
        recorded_at, [p.account.value for p in postings], [p.amount_cents for p in postings],
        after, balances is not None, *(facts.get(name) for name in _TRANSACTION_FACTS))


async def ledger_page(conn: asyncpg.Connection, programme_id: UUID, after_seq: int | None,
                      limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT t.*, (SELECT jsonb_object_agg(p.account, p.amount_cents) FROM ledger_postings p
                     WHERE p.transaction_id = t.id) AS postings
        FROM ledger_transactions t
        WHERE t.programme_id = $1 AND t.seq > $2
        ORDER BY t.seq LIMIT $3
        """, programme_id, after_seq or 0, limit))


async def account_sums(conn: asyncpg.Connection, programme_id: UUID) -> dict[str, int]:
    """Each account's balance summed from the postings (the auditor's check of the balances)."""
    rows = await conn.fetch(
        "SELECT p.account, sum(p.amount_cents)::bigint AS total FROM ledger_postings p "
        "JOIN ledger_transactions t ON t.id = p.transaction_id WHERE t.programme_id = $1 "
        "GROUP BY p.account", programme_id)
    return {r["account"]: r["total"] for r in rows}


# ---------------------------------------------------------------- statements


async def statement_lines(conn: asyncpg.Connection, programme_id: UUID, period: str
                          ) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM ledger_transactions WHERE programme_id = $1 AND statement_period = $2",
        programme_id, period))


async def issued_statement(conn: asyncpg.Connection, programme_id: UUID, period: str
                           ) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM statements WHERE programme_id = $1 AND period = $2", programme_id, period)
    return row


async def issued_periods_from(conn: asyncpg.Connection, programme_id: UUID, period: str
                              ) -> set[str]:
    rows = await conn.fetch("SELECT period FROM statements WHERE programme_id = $1 "
                            "AND period >= $2", programme_id, period)
    return {r["period"] for r in rows}


async def insert_statement(conn: asyncpg.Connection, *, statement_id: UUID, programme_id: UUID,
                           period: str, document: domain.StatementDocument,
                           now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO statements (id, programme_id, period, json_bytes, csv_bytes, sha256,
                                redeemed_cents, reversed_cents, net_cents, lines, issued_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *
        """, statement_id, programme_id, period, document.json_bytes, document.csv_bytes,
        document.sha256, document.redeemed_cents, document.reversed_cents, document.net_cents,
        document.lines, now)
    return row


# ---------------------------------------------------------------- applications


async def insert_application(conn: asyncpg.Connection, *, application_id: UUID,
                             programme_id: UUID, member_id: UUID, submitted_at: datetime,
                             declarations: dict[str, Any], undertaking_key: str,
                             condition_deadline: date | None) -> None:
    await conn.execute(
        "INSERT INTO applications (id, programme_id, member_id, submitted_at, status, "
        "declarations, undertaking_key, condition_deadline) "
        "VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7)",
        application_id, programme_id, member_id, submitted_at, declarations, undertaking_key,
        condition_deadline)


async def decide_application(conn: asyncpg.Connection, application_id: UUID, *, status: str,
                             reasons: Sequence[str], now: datetime,
                             voucher_id: UUID | None = None,
                             rank_position: int | None = None) -> None:
    await conn.execute(
        "UPDATE applications SET status = $2, reasons = $3, voucher_id = $4, decided_at = $5, "
        "rank_position = coalesce($6, rank_position) WHERE id = $1",
        application_id, status, list(reasons), voucher_id, now, rank_position)


async def application_by_id(conn: asyncpg.Connection, application_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM applications WHERE id = $1",
                                          application_id)
    return row


async def applications_in(conn: asyncpg.Connection, programme_id: UUID, status: str) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM applications WHERE programme_id = $1 AND status = $2 "
        "ORDER BY rank_position NULLS LAST, submitted_at, id", programme_id, status))


async def applications_page(conn: asyncpg.Connection, *, programme_id: UUID | None,
                            member_id: UUID | None, after: tuple[datetime, UUID] | None,
                            limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT * FROM applications
        WHERE ($1::uuid IS NULL OR programme_id = $1) AND ($2::uuid IS NULL OR member_id = $2)
          AND ($3::timestamptz IS NULL OR (submitted_at, id) > ($3, $4::uuid))
        ORDER BY submitted_at, id LIMIT $5
        """, programme_id, member_id, after[0] if after else None, after[1] if after else None,
        limit))


# ---------------------------------------------------------------- vouchers


async def insert_voucher(conn: asyncpg.Connection, *, voucher_id: UUID, programme_id: UUID,
                         member_id: UUID, application_id: UUID, amount_cents: int,
                         granted_at: datetime, valid_from: date, valid_until: date,
                         condition_deadline: date | None,
                         partita_iva_opened_on: date | None) -> Row:
    row: Row = await conn.fetchrow(
        """
        INSERT INTO vouchers (id, programme_id, member_id, application_id, amount_cents,
                              remaining_cents, status, granted_at, valid_from, valid_until,
                              condition_deadline, partita_iva_opened_on)
        VALUES ($1, $2, $3, $4, $5, $5, 'active', $6, $7, $8, $9, $10) RETURNING *
        """, voucher_id, programme_id, member_id, application_id, amount_cents, granted_at,
        valid_from, valid_until, condition_deadline, partita_iva_opened_on)
    return row


async def voucher_by_id(conn: asyncpg.Connection, voucher_id: UUID, *,
                        for_update: bool = False) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM vouchers WHERE id = $1" + (" FOR UPDATE" if for_update else ""),  # noqa: S608 - constant text
        voucher_id)
    return row


async def vouchers_page(conn: asyncpg.Connection, *, member_id: UUID | None,
                        programme_id: UUID | None, after: tuple[datetime, UUID] | None,
                        limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT * FROM vouchers
        WHERE ($1::uuid IS NULL OR member_id = $1) AND ($2::uuid IS NULL OR programme_id = $2)
          AND ($3::timestamptz IS NULL OR (granted_at, id) > ($3, $4::uuid))
        ORDER BY granted_at, id LIMIT $5
        """, member_id, programme_id, after[0] if after else None, after[1] if after else None,
        limit))


async def set_remaining(conn: asyncpg.Connection, voucher_id: UUID, remaining_cents: int) -> None:
    await conn.execute("UPDATE vouchers SET remaining_cents = $2 WHERE id = $1",
                       voucher_id, remaining_cents)


async def end_voucher(conn: asyncpg.Connection, voucher_id: UUID, *, status: str,
                      released_cents: int, reason: str | None, now: datetime) -> None:
    await conn.execute(
        "UPDATE vouchers SET status = $2, remaining_cents = 0, "
        "released_cents = released_cents + $3, end_reason = $4, ended_at = $5 WHERE id = $1",
        voucher_id, status, released_cents, reason, now)


async def add_released(conn: asyncpg.Connection, voucher_id: UUID, released_cents: int) -> None:
    """A reversal on a voucher that has already ended: its money goes straight back."""
    await conn.execute("UPDATE vouchers SET released_cents = released_cents + $2, "
                       "remaining_cents = 0 WHERE id = $1", voucher_id, released_cents)


async def declare_partita_iva(conn: asyncpg.Connection, voucher_id: UUID, opened_on: date) -> None:
    await conn.execute("UPDATE vouchers SET partita_iva_opened_on = $2 WHERE id = $1",
                       voucher_id, opened_on)


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
              WHERE r.space_id = e.space_id AND r.kind IN ('hot_desk', 'fixed_desk')))
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


async def lock_all_balances(conn: asyncpg.Connection, programme_ids: Sequence[UUID]
                            ) -> dict[UUID, domain.ProgrammeBalances]:
    """Several programmes' balances, locked in one order (by id) so batches never deadlock
    each other on them."""
    rows = await conn.fetch(
        "SELECT programme_id, budget_cents, available_cents, committed_cents, disbursed_cents "
        "FROM programme_balances WHERE programme_id = ANY($1::uuid[]) "
        "ORDER BY programme_id FOR UPDATE", list(programme_ids))
    return {r["programme_id"]: domain.ProgrammeBalances(
        r["budget_cents"], r["available_cents"], r["committed_cents"], r["disbursed_cents"])
        for r in rows}


# ---------------------------------------------------------------- redemptions


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


async def record_redemptions(conn: asyncpg.Connection, *, redemptions: Sequence[dict[str, Any]],
                             statement_periods: Sequence[str],
                             balances: dict[UUID, domain.ProgrammeBalances],
                             remaining_cents: dict[UUID, int],
                             events: Sequence[RedemptionEvent], now: datetime,
                             source: str) -> None:
    """A batch of redemptions — ledger, balances, redemptions, vouchers, thresholds and events
    — in one round trip (see _RECORD_REDEMPTIONS). `redemptions` in the order they were paid,
    each with its ledger transaction's statement period beside it; `balances` and
    `remaining_cents` as the batch leaves them."""
    postings = [(r["id"], p) for r in redemptions
                for p in domain.postings(domain.Movement.REDEEM, r["subsidy_cents"])]
    rows = []
    for e in events:
        _, values = outbox.outbox_values(e.event, source=source)
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


async def issued_periods_of(conn: asyncpg.Connection, programme_ids: Sequence[UUID],
                            period: str) -> dict[UUID, set[str]]:
    rows = await conn.fetch("SELECT programme_id, period FROM statements "
                            "WHERE programme_id = ANY($1::uuid[]) AND period >= $2",
                            list(programme_ids), period)
    issued: dict[UUID, set[str]] = {}
    for r in rows:
        issued.setdefault(r["programme_id"], set()).add(r["period"])
    return issued


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


# ---------------------------------------------------------------- thresholds


async def mark_threshold(conn: asyncpg.Connection, subject_id: UUID, threshold: str,
                         now: datetime) -> bool:
    """Record that a threshold was emitted; False when it already was (emit nothing then)."""
    status = await conn.execute(
        "INSERT INTO thresholds_emitted (subject_id, threshold, emitted_at) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING", subject_id, threshold, now)
    return status.endswith(" 1")


# ---------------------------------------------------------------- de minimis and transparency


async def lock_undertaking(conn: asyncpg.Connection, undertaking_key: str) -> None:
    """Serialise grants to one undertaking across programmes (taken after a programme's
    balances, always in that order)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 8))", undertaking_key)


async def de_minimis_grants_of(conn: asyncpg.Connection, undertaking_key: str
                               ) -> list[tuple[date, int]]:
    rows = await conn.fetch("SELECT granted_on, amount_cents FROM de_minimis_grants "
                            "WHERE undertaking_key = $1", undertaking_key)
    return [(r["granted_on"], r["amount_cents"]) for r in rows]


async def record_de_minimis(conn: asyncpg.Connection, *, voucher_id: UUID, undertaking_key: str,
                            programme_id: UUID, granted_on: date, amount_cents: int,
                            rna_code: str | None) -> None:
    await conn.execute(
        "INSERT INTO de_minimis_grants (voucher_id, undertaking_key, programme_id, granted_on, "
        "amount_cents, rna_code) VALUES ($1, $2, $3, $4, $5, $6)",
        voucher_id, undertaking_key, programme_id, granted_on, amount_cents, rna_code)


async def grants_by_beneficiary(conn: asyncpg.Connection, programme_id: UUID | None,
                                year: int) -> list[Row]:
    """Each beneficiary's grants in a calendar year (Europe/Rome), largest first."""
    return list(await conn.fetch(
        """
        SELECT v.member_id, sum(v.amount_cents)::bigint AS granted_cents,
               count(*) AS vouchers, array_agg(DISTINCT v.programme_id) AS programme_ids
        FROM vouchers v
        WHERE ($1::uuid IS NULL OR v.programme_id = $1)
          AND extract(year FROM v.granted_at AT TIME ZONE 'Europe/Rome') = $2
        GROUP BY v.member_id ORDER BY granted_cents DESC, v.member_id
        """, programme_id, year))


# ---------------------------------------------------------------- replicas


async def upsert_member(conn: asyncpg.Connection, member_id: UUID, *, kind: str | None,
                        residence_istat: str | None, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO members (member_id, kind, residence_istat, updated_at)
        VALUES ($1, $2, $3, $4)
        ON CONFLICT (member_id) DO UPDATE SET kind = coalesce(EXCLUDED.kind, members.kind),
            residence_istat = EXCLUDED.residence_istat, updated_at = EXCLUDED.updated_at
        WHERE members.erased_at IS NULL
        """, member_id, kind, residence_istat, now)


async def member_by_id(conn: asyncpg.Connection, member_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow("SELECT * FROM members WHERE member_id = $1", member_id)
    return row


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """GDPR erasure: drop the residence and the self-declarations (birth date, tax code...);
    vouchers, redemptions, the ledger and the de minimis register (keyed by a hash) stay."""
    await conn.execute(
        """
        INSERT INTO members (member_id, kind, residence_istat, erased_at, updated_at)
        VALUES ($1, NULL, NULL, $2, $2)
        ON CONFLICT (member_id) DO UPDATE SET residence_istat = NULL, erased_at = $2,
            updated_at = $2
        """, member_id, now)
    await conn.execute("UPDATE applications SET declarations = '{}'::jsonb WHERE member_id = $1",
                       member_id)


async def live_applications_of(conn: asyncpg.Connection, member_id: UUID) -> list[Row]:
    return list(await conn.fetch(
        "SELECT * FROM applications WHERE member_id = $1 AND status IN ('pending', 'waitlisted') "
        "ORDER BY submitted_at, id", member_id))


async def active_vouchers_of(conn: asyncpg.Connection, member_id: UUID) -> list[UUID]:
    return [r["id"] for r in await conn.fetch(
        "SELECT id FROM vouchers WHERE member_id = $1 AND status = 'active' ORDER BY id",
        member_id)]


async def upsert_space_resource(conn: asyncpg.Connection, resource_id: UUID, space_id: UUID,
                                kind: str) -> None:
    await conn.execute(
        "INSERT INTO space_resources (resource_id, space_id, kind) VALUES ($1, $2, $3) "
        "ON CONFLICT (resource_id) DO UPDATE SET space_id = EXCLUDED.space_id, "
        "kind = EXCLUDED.kind", resource_id, space_id, kind)


async def desks_of(conn: asyncpg.Connection, space_id: UUID) -> tuple[bool, int]:
    """(whether the replica knows the space, how many hot and fixed desks it has)."""
    row = await conn.fetchrow(
        "SELECT count(*) AS resources, count(*) FILTER (WHERE kind IN ('hot_desk', 'fixed_desk')) "
        "AS desks FROM space_resources WHERE space_id = $1", space_id)
    return row["resources"] > 0, row["desks"]


# ---------------------------------------------------------------- accredited spaces


async def insert_accreditation(conn: asyncpg.Connection, *, accreditation_id: UUID,
                               space_id: UUID, from_date: date, reason: str,
                               now: datetime) -> Row:
    row: Row = await conn.fetchrow(
        "INSERT INTO accredited_spaces (id, space_id, from_date, reason, created_at) "
        "VALUES ($1, $2, $3, $4, $5) RETURNING *",
        accreditation_id, space_id, from_date, reason, now)
    return row


async def open_accreditation(conn: asyncpg.Connection, space_id: UUID) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "SELECT * FROM accredited_spaces WHERE space_id = $1 AND until_date IS NULL", space_id)
    return row


async def end_accreditation(conn: asyncpg.Connection, space_id: UUID, until: date) -> Row | None:
    row: Row | None = await conn.fetchrow(
        "UPDATE accredited_spaces SET until_date = greatest(from_date, $2) "
        "WHERE space_id = $1 AND until_date IS NULL RETURNING *", space_id, until)
    return row


async def accreditations_page(conn: asyncpg.Connection, after: tuple[datetime, UUID] | None,
                              limit: int) -> list[Row]:
    return list(await conn.fetch(
        """
        SELECT a.*, (SELECT count(*) FROM space_resources r WHERE r.space_id = a.space_id
                     AND r.kind IN ('hot_desk', 'fixed_desk')) AS desks,
               EXISTS (SELECT 1 FROM space_resources r WHERE r.space_id = a.space_id) AS known
        FROM accredited_spaces a
        WHERE ($1::timestamptz IS NULL OR (a.created_at, a.id) > ($1, $2::uuid))
        ORDER BY a.created_at, a.id LIMIT $3
        """, after[0] if after else None, after[1] if after else None, limit))
