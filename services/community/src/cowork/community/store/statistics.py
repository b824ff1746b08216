"""The statistics tables (plain SQL): what the consumed events leave to count, and the frozen
open-data releases."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg


async def member_joined(conn: asyncpg.Connection, member_id: UUID, *, kind: str,
                        joined_at: datetime, residence_istat: str | None,
                        age_band: str | None) -> None:
    # Vouchers are another topic: the first grant (and the status it declared) may be read
    # before the registration.
    await conn.execute(
        "INSERT INTO stats_members (member_id, kind, joined_at, residence_istat, age_band, "
        "status) VALUES ($1, $2, $3, $4, $5, (SELECT status FROM stats_vouchers "
        "WHERE member_id = $1 ORDER BY granted_at LIMIT 1)) "
        "ON CONFLICT (member_id) DO UPDATE SET kind = $2, "
        "joined_at = $3, residence_istat = $4, age_band = $5",
        member_id, kind, joined_at, residence_istat, age_band)


async def member_erased(conn: asyncpg.Connection, member_id: UUID) -> None:
    """The member's rows keep counting under a new random key: nothing links them to the id
    the other services knew (their vouchers keep the same new key, so they still count as
    one person with one status)."""
    anonymous = await conn.fetchval("SELECT gen_random_uuid()")
    await conn.execute("UPDATE stats_members SET member_id = $2 WHERE member_id = $1",
                       member_id, anonymous)
    await conn.execute("UPDATE stats_vouchers SET member_id = $2 WHERE member_id = $1",
                       member_id, anonymous)


async def resource(conn: asyncpg.Connection, resource_id: UUID, space_id: UUID, kind: str,
                   seats: int, in_service: bool) -> None:
    await conn.execute(
        "INSERT INTO stats_resources (resource_id, space_id, kind, seats, in_service) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (resource_id) DO UPDATE SET space_id = $2, "
        "kind = $3, seats = $4, in_service = $5",
        resource_id, space_id, kind, seats, in_service)


async def booking(conn: asyncpg.Connection, booking_id: UUID, space_id: UUID, kind: str,
                  start: datetime, end: datetime) -> None:
    await conn.execute(
        "INSERT INTO stats_bookings (booking_id, space_id, kind, starts_at, ends_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (booking_id) DO NOTHING",
        booking_id, space_id, kind, start, end)


async def booking_cancelled(conn: asyncpg.Connection, booking_id: UUID) -> None:
    await conn.execute("UPDATE stats_bookings SET cancelled = true WHERE booking_id = $1",
                       booking_id)


async def programme(conn: asyncpg.Connection, programme_id: UUID, name: str, budget_cents: int,
                    valid_from: date, valid_until: date) -> None:
    await conn.execute(
        "INSERT INTO stats_programmes (programme_id, name, budget_cents, valid_from, "
        "valid_until) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (programme_id) DO UPDATE "
        "SET name = $2, budget_cents = $3, valid_from = $4, valid_until = $5",
        programme_id, name, budget_cents, valid_from, valid_until)


async def voucher_granted(conn: asyncpg.Connection, voucher_id: UUID, programme_id: UUID,
                          member_id: UUID, amount_cents: int, granted_at: datetime,
                          status: str | None, age_band: str | None) -> None:
    """The voucher, and the status its holder declared as the member's status at joining (the
    first voucher's; a member without one joined `not_declared`)."""
    await conn.execute(
        "INSERT INTO stats_vouchers (voucher_id, programme_id, member_id, amount_cents, "
        "granted_at, status, age_band) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (voucher_id) DO NOTHING",
        voucher_id, programme_id, member_id, amount_cents, granted_at, status, age_band)
    await conn.execute(
        "UPDATE stats_members SET status = $2 WHERE member_id = $1 AND status IS NULL",
        member_id, status)


async def partita_iva_declared(conn: asyncpg.Connection, voucher_id: UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE stats_vouchers SET partita_iva_declared_at = $2 WHERE voucher_id = $1",
        voucher_id, at)


async def voucher_flow(conn: asyncpg.Connection, event_id: UUID, voucher_id: UUID,
                       at: datetime, cents: int) -> None:
    await conn.execute(
        "INSERT INTO stats_voucher_flows (event_id, voucher_id, at, cents) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
        event_id, voucher_id, at, cents)


async def meeting(conn: asyncpg.Connection, meeting_id: UUID, title: str, start: datetime,
                  capacity: int, cancelled: bool = False) -> None:
    await conn.execute(
        "INSERT INTO stats_meetings (meeting_id, title, starts_at, capacity, cancelled) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (meeting_id) DO UPDATE SET title = $2, "
        "starts_at = $3, capacity = $4, cancelled = $5",
        meeting_id, title, start, capacity, cancelled)


async def meeting_closed(conn: asyncpg.Connection, meeting_id: UUID, registered: int,
                         attendance: int) -> None:
    await conn.execute(
        "UPDATE stats_meetings SET registered = $2, attendance = $3 WHERE meeting_id = $1",
        meeting_id, registered, attendance)


async def checked_in(conn: asyncpg.Connection, meeting_id: UUID) -> None:
    await conn.execute(
        "UPDATE stats_meetings SET checked_in = checked_in + 1 WHERE meeting_id = $1", meeting_id)


async def interest(conn: asyncpg.Connection, interest_id: UUID, at: datetime, who: str,
                   desk_kinds: list[str], weekdays: list[str], time_bands: list[str],
                   would_help_run: bool) -> None:
    await conn.execute(
        "INSERT INTO stats_interest (interest_id, at, who, desk_kinds, weekdays, time_bands, "
        "would_help_run) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (interest_id) DO NOTHING",
        interest_id, at, who, desk_kinds, weekdays, time_bands, would_help_run)


# ---------------------------------------------------------------- reading, for a month


async def members_until(conn: asyncpg.Connection, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT kind, joined_at, residence_istat, age_band, coalesce(status, 'not_declared') "
        "AS status FROM stats_members WHERE joined_at < $1 ORDER BY joined_at", end)


async def bookings_between(conn: asyncpg.Connection, start: datetime, end: datetime
                           ) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT space_id, kind, starts_at, ends_at FROM stats_bookings WHERE NOT cancelled "
        "AND starts_at >= $1 AND starts_at < $2", start, end)


async def resources(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT space_id, kind, seats FROM stats_resources WHERE in_service")


async def programmes(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM stats_programmes ORDER BY valid_from, name")


async def vouchers_until(conn: asyncpg.Connection, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT v.*, coalesce((SELECT sum(f.cents) FROM stats_voucher_flows f "
        "WHERE f.voucher_id = v.voucher_id AND f.at < $1), 0) AS redeemed_cents "
        "FROM stats_vouchers v WHERE v.granted_at < $1", end)


async def flows_until(conn: asyncpg.Connection, end: datetime) -> list[asyncpg.Record]:
    """Money moved by day and programme: grants commit, redemptions spend."""
    return await conn.fetch(
        "SELECT v.programme_id, f.at, f.cents FROM stats_voucher_flows f "
        "JOIN stats_vouchers v USING (voucher_id) WHERE f.at < $1 ORDER BY f.at", end)


async def meetings_until(conn: asyncpg.Connection, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT * FROM stats_meetings WHERE NOT cancelled AND starts_at < $1 "
        "ORDER BY starts_at", end)


async def interest_until(conn: asyncpg.Connection, end: datetime) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT * FROM stats_interest WHERE at < $1", end)


# ---------------------------------------------------------------- releases


async def release(conn: asyncpg.Connection, dataset: str, period: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM open_data_releases WHERE dataset = $1 AND period = $2", dataset, period)


async def frozen_csvs(conn: asyncpg.Connection, dataset: str, but: str) -> list[bytes]:
    """The dataset's frozen CSVs of every month but one."""
    rows = await conn.fetch(
        "SELECT csv FROM open_data_releases WHERE dataset = $1 AND period <> $2 "
        "ORDER BY period", dataset, but)
    return [bytes(r["csv"]) for r in rows]


async def freeze(conn: asyncpg.Connection, dataset: str, period: str, csv: bytes, sha256: str,
                 now: datetime) -> bool:
    """True when this call froze it; a month built before keeps its first bytes."""
    status = await conn.execute(
        "INSERT INTO open_data_releases (dataset, period, csv, sha256, built_at) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (dataset, period) DO NOTHING",
        dataset, period, csv, sha256, now)
    return bool(status.endswith(" 1"))


async def releases(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT dataset, period, sha256, built_at FROM open_data_releases "
        "ORDER BY dataset, period")
