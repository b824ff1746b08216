"""Reports: occupancy of a space, computed in SQL."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import asyncpg

Row = asyncpg.Record


# Occupancy in one statement: the open minutes of every day of the range come from the space's
# opening hours (real elapsed time in its timezone, so DST days count 23 or 25 hours' worth),
# less its closures and the public holidays passed in ($4: computed by the same calendar the
# rules use); the bookings of the range are counted per resource and day on the
# (space_id, local_day) index; GROUPING SETS give the resource, kind and space rows of each
# period at once. Booked minutes count every booking not cancelled (a no-show held the slot).
OCCUPANCY = """
WITH days AS (
    SELECT d::date AS day FROM generate_series($2::date, $3::date, interval '1 day') AS d
), open_days AS (
    SELECT days.day,
           -- '24:00'::time is midnight at the end of the day; AT TIME ZONE gives instants
           coalesce(sum(extract(epoch FROM
               (days.day + (slot ->> 1)::time) AT TIME ZONE s.timezone
               - (days.day + (slot ->> 0)::time) AT TIME ZONE s.timezone) / 60), 0)::bigint
               AS open_minutes
    FROM spaces s CROSS JOIN days
    LEFT JOIN LATERAL jsonb_array_elements(
        s.opening_hours -> (ARRAY['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
                           [extract(isodow FROM days.day)::int]) AS slot
        ON NOT (to_char(days.day, 'YYYY-MM-DD') = ANY (s.closures)
                OR to_char(days.day, 'MM-DD') = ANY (s.closures)
                OR days.day = ANY ($4::date[]))
    WHERE s.id = $1
    GROUP BY days.day
), usage AS (
    SELECT b.resource_id, b.local_day AS day,
           sum(b.minutes) FILTER (WHERE b.status <> 'cancelled')                 AS booked_minutes,
           count(*) FILTER (WHERE b.status <> 'cancelled')                       AS bookings,
           count(*) FILTER (WHERE b.checked_in_at IS NOT NULL
                            OR b.status IN ('checked_in', 'completed'))          AS check_ins,
           count(*) FILTER (WHERE b.status = 'no_show')                          AS no_shows,
           count(*) FILTER (WHERE b.status = 'cancelled')                        AS cancellations
    FROM bookings b
    WHERE b.space_id = $1 AND b.local_day BETWEEN $2 AND $3
    GROUP BY b.resource_id, b.local_day
), grid AS (
    SELECT CASE WHEN $5 = 'month' THEN date_trunc('month', o.day)::date ELSE o.day END
               AS period,
           r.id AS resource_id, r.name AS resource_name, r.kind,
           o.open_minutes, coalesce(u.booked_minutes, 0) AS booked_minutes,
           coalesce(u.bookings, 0) AS bookings, coalesce(u.check_ins, 0) AS check_ins,
           coalesce(u.no_shows, 0) AS no_shows, coalesce(u.cancellations, 0) AS cancellations
    FROM resources r
    CROSS JOIN open_days o
    LEFT JOIN usage u ON u.resource_id = r.id AND u.day = o.day
    WHERE r.space_id = $1
)
SELECT period,
       CASE WHEN GROUPING(resource_id) = 0 THEN 'resource'
            WHEN GROUPING(kind) = 0 THEN 'kind' ELSE 'space' END AS scope,
       resource_id, resource_name, kind,
       sum(open_minutes)::bigint AS open_minutes, sum(booked_minutes)::bigint AS booked_minutes,
       round(sum(booked_minutes)::numeric / nullif(sum(open_minutes), 0), 4) AS utilisation,
       sum(bookings)::bigint AS bookings, sum(check_ins)::bigint AS check_ins,
       sum(no_shows)::bigint AS no_shows, sum(cancellations)::bigint AS cancellations
FROM grid
GROUP BY GROUPING SETS ((period, kind, resource_id, resource_name), (period, kind), (period))
ORDER BY period, GROUPING(kind), kind NULLS LAST, GROUPING(resource_id), resource_name NULLS FIRST
"""


async def occupancy(conn: asyncpg.Connection, space_id: UUID, first_day: date, last_day: date,
                    holidays: list[date], by: str) -> list[Row]:
    return list(await conn.fetch(OCCUPANCY, space_id, first_day, last_day, holidays, by))


