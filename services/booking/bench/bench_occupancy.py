"""Benchmark: the occupancy report over a year of a busy space, straight from SQL.

A fresh database holds the demo space's calendar (Mon-Fri 08-19, Sat 09-13, the patron
saint's day) with 30 resources and, for every open weekday of 2027, five two-hour bookings per
resource in every state a year produces (mostly completed, some no-shows and cancellations):
~ 38,000 bookings. Times the report by month and by day for the whole year, median of five
runs each, through asyncpg (what the endpoint runs, without HTTP). Prints a `BENCH_JSON` line.
Run: `uv run python services/booking/bench/bench_occupancy.py` (the local stack must run).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from datetime import date

import asyncpg

from cowork.booking import domain, store
from cowork.booking.app import MIGRATIONS
from cowork.devtools import Infra, start_infra
from cowork.shared import db

RESOURCES = 30
YEAR = (date(2027, 1, 1), date(2027, 12, 31))
HOURS = {day: [["08:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")} | {
    "sat": [["09:00", "13:00"]]}

# Five two-hour bookings per resource and open day, in Rome's local time; every 17th a no-show,
# every 11th cancelled, the rest completed (checked in).
FILL = """
INSERT INTO bookings (id, member_id, resource_id, space_id, resource_kind, starts_at, ends_at,
                      local_day, minutes, blocked, status, price_cents, charged_cents,
                      booked_by, created_at, updated_at, checked_in_at)
SELECT gen_random_uuid(), gen_random_uuid(), r.id, r.space_id, r.kind,
       start_at, start_at + interval '2 hours', d::date, 120,
       tstzrange(start_at, start_at + interval '2 hours'),
       CASE WHEN n % 17 = 0 THEN 'no_show' WHEN n % 11 = 0 THEN 'cancelled'
            ELSE 'completed' END,
       600, 0, 'member', start_at - interval '1 day', start_at,
       CASE WHEN n % 17 <> 0 AND n % 11 <> 0 THEN start_at END
FROM resources r
CROSS JOIN generate_series($1::date, $2::date, interval '1 day') AS d
CROSS JOIN generate_series(0, 4) AS slot
CROSS JOIN LATERAL (SELECT ((d::date + make_time(8 + 2 * slot, 0, 0))
                            AT TIME ZONE 'Europe/Rome') AS start_at,
                           (extract(doy FROM d)::int * 1000 + slot * 37
                            + abs(hashtext(r.id::text)) % 997) AS n) AS x
WHERE extract(isodow FROM d) BETWEEN 1 AND 5 AND NOT (d::date = ANY ($3::date[]))
  AND to_char(d, 'MM-DD') <> '08-05'
"""


async def main(infra: Infra) -> None:
    name = f"cowork_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.pg_admin_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = infra.database_url(name)
        await db.migrate_service(dsn, "booking", MIGRATIONS)
        conn = await db.connect(dsn)
        space = uuid.uuid4()
        await conn.execute("INSERT INTO spaces VALUES ($1, 's', 'a', 'Europe/Rome', $2, "
                           "'{08-05}', now())", space, HOURS)
        kinds = ["hot_desk"] * 20 + ["fixed_desk"] * 6 + ["meeting_room"] * 2 + ["phone_booth"] * 2
        for n, kind in enumerate(kinds[:RESOURCES]):
            await conn.execute(
                "INSERT INTO resources (id, space_id, name, kind, seats, price_per_hour_cents, "
                "slot_minutes, min_minutes, max_minutes, advance_days, created_at) "
                "VALUES ($1, $2, $3, $4, 1, 300, 30, 30, 600, 365, now())",
                uuid.uuid4(), space, f"R{n:02d}", kind)
        holidays = domain.public_holidays(*YEAR)
        await conn.execute(FILL, *YEAR, holidays)
        await conn.execute("ANALYZE")
        bookings = await conn.fetchval("SELECT count(*) FROM bookings")
        result: dict[str, object] = {"bookings": bookings, "resources": RESOURCES}
        for by in ("month", "day"):
            timings, rows = [], 0
            for _ in range(5):
                began = time.perf_counter()
                rows = len(await store.occupancy(conn, space, *YEAR, holidays, by))
                timings.append(time.perf_counter() - began)
            result[f"by_{by}_ms"] = round(statistics.median(timings) * 1000, 1)
            result[f"by_{by}_rows"] = rows
        await conn.close()
        print(f"occupancy over a year: {bookings} bookings, {RESOURCES} resources — by month "
              f"{result['by_month_ms']} ms ({result['by_month_rows']} rows), by day "
              f"{result['by_day_ms']} ms ({result['by_day_rows']} rows)")
        print("BENCH_JSON " + json.dumps(result))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(start_infra()))
