"""Random traffic at once: members book single desks, any free desk, the meeting room and
weekly series, cancel, and queue on the waitlist, twenty-five requests at a time, while staff
cancel too. Whatever the interleaving — claims lost and retried, waitlist promotions inside
cancellations, series holding a membership while singles wait — the promises hold: no request
fails with a 5xx, no resource is double-booked, no membership goes beyond its limits, and
every booking and cancellation has exactly one event, in the outbox and on Kafka."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from booking_support import ROOM, Booking, rome

from cowork.booking import commands, store
from cowork.devtools.kafka import collect, of_type
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]

OPEN_DAYS = (2, 3, 4, 5, 8, 9)  # March 2027, after Monday the 1st (the clock's today)
PLANS: tuple[dict[str, Any], ...] = (
    {"max_bookings_per_day": 1},
    {"max_bookings_per_week": 3},
    {"plan_kind": "carnet", "carnet_days": 2},
    {"meeting_room_minutes_per_month": 180},
    {},
)
WAVES, PER_WAVE = 12, 25

# What each request may answer; anything else (a 5xx above all) fails the test.
EXPECTED = {
    "book": {201, 403, 409},        # 403 a limit, 409 slot_taken / none_free / member_busy
    "series": {201, 403, 409},      # 409 series_conflict (all_or_nothing)
    "cancel": {200, 409},           # 409 not_cancellable (already), concurrent_change
    "waitlist": {201, 403, 409},    # 409 slot_is_free
}
COUNTED = ("confirmed", "checked_in", "completed", "no_show")


async def test_random_concurrent_traffic_keeps_every_promise(svc: Booking) -> None:
    rng = random.Random(20261126)
    space = await svc.space()
    desks = [await svc.resource(space["id"], name=f"Desk {n}") for n in range(3)]
    room = await svc.resource(space["id"], **ROOM)
    members = [await svc.member_with(**PLANS[n % len(PLANS)]) for n in range(10)]
    booked: dict[str, UUID] = {}  # booking id → its member, from every 201
    taken: list[dict[str, str]] = []  # resource and interval of each of them, to queue for
    cancelled: set[str] = set()
    answers: Counter[tuple[str, int, str]] = Counter()

    def interval() -> tuple[str, str]:
        day, hour = rng.choice(OPEN_DAYS), rng.randrange(9, 17)
        return rome(day, hour), rome(day, hour + rng.choice((1, 2)))

    def next_request() -> tuple[str, dict[str, Any]]:
        """(kind, arguments), drawn before the wave runs so a seed replays the same traffic."""
        member = rng.choice(members)
        start, end = interval()
        roll = rng.random()
        if roll < 0.45:
            target = rng.choice([*desks, room, None])
            where = ({"resource_id": target["id"]} if target else
                     {"space_id": space["id"], "resource_kind": "hot_desk"})
            return "book", {"member_id": str(member), "start": start, "end": end, **where}
        if roll < 0.60:
            return "series", {"member_id": str(member), "resource_id": rng.choice(desks)["id"],
                              "start": start, "end": end, "weeks": rng.choice((2, 3)),
                              "mode": rng.choice(("all_or_nothing", "skip_conflicts"))}
        if roll < 0.85 and booked:
            booking_id = rng.choice(sorted(booked))
            return "cancel", {"booking_id": booking_id, "by_staff": rng.random() < 0.2}
        if taken and rng.random() < 0.8:  # people queue for what is busy
            return "waitlist", {"member_id": str(member), **rng.choice(taken)}
        return "waitlist", {"member_id": str(member), "resource_id": rng.choice(desks)["id"],
                            "start": start, "end": end}

    async def send(kind: str, args: dict[str, Any]) -> httpx.Response:
        if kind == "cancel":
            owner = booked[args["booking_id"]]
            return await svc.client.post(
                f"/v1/bookings/{args['booking_id']}/cancel",
                headers=svc.staff() if args["by_staff"] else svc.member(owner))
        path = {"book": "/v1/bookings", "series": "/v1/bookings/series",
                "waitlist": "/v1/waitlist"}[kind]
        return await svc.client.post(path, json=args, headers=svc.member(args["member_id"]))

    for _ in range(WAVES):
        wave = [next_request() for _ in range(PER_WAVE)]
        responses = await asyncio.gather(*(send(kind, args) for kind, args in wave))
        for (kind, args), response in zip(wave, responses, strict=True):
            body = response.json()
            code = body["error"]["code"] if "error" in body else "ok"
            answers[(kind, response.status_code, code)] += 1
            assert response.status_code in EXPECTED[kind], (kind, args, response.text)
            if kind == "book" and response.status_code == 201:
                booked[body["id"]] = UUID(args["member_id"])
                taken.append({k: body[k] for k in ("resource_id", "start", "end")})
            elif kind == "series" and response.status_code == 201:
                for occurrence in body["occurrences"]:
                    if occurrence["status"] == "booked":
                        booked[occurrence["booking_id"]] = UUID(args["member_id"])
            elif kind == "cancel" and response.status_code == 200:
                cancelled.add(args["booking_id"])

    # The traffic did what it is meant to: the races happened, not only the easy paths.
    happened = {(kind, status) for kind, status, _ in answers}
    assert {("book", 201), ("book", 409), ("book", 403), ("series", 201), ("cancel", 200),
            ("cancel", 409), ("waitlist", 201)} <= happened, answers

    db = svc.runtime.db
    rows = {str(r["id"]): r for r in await db.fetch("SELECT * FROM bookings")}
    promoted = {str(r["booking_id"]) for r in await db.fetch(
        "SELECT booking_id FROM waitlist WHERE status = 'promoted'")}
    # Every answer was the truth: what was confirmed exists, what was cancelled is cancelled;
    # the only other bookings are waitlist promotions made inside someone's cancellation.
    assert set(booked) <= set(rows)
    assert set(rows) - set(booked) == promoted - set(booked)
    assert all(rows[b]["status"] == "cancelled" for b in cancelled)
    assert {b for b, r in rows.items() if r["via_waitlist"]} == promoted
    assert promoted, "no cancellation promoted a waiting member: the test lost its point"

    assert await db.fetchval(
        """SELECT count(*) FROM bookings a JOIN bookings b
           ON a.resource_id = b.resource_id AND a.id < b.id AND a.blocked && b.blocked
           WHERE a.status IN ('confirmed', 'checked_in') AND b.status IN ('confirmed', 'checked_in')
        """) == 0

    over_limit = await db.fetch(
        """
        WITH counted AS (SELECT * FROM bookings WHERE status = ANY($1::text[]))
        SELECT 'daily' AS rule, e.membership_id FROM eligibility e JOIN counted b USING (membership_id)
            WHERE e.max_bookings_per_day IS NOT NULL
            GROUP BY e.membership_id, e.max_bookings_per_day, b.local_day
            HAVING count(*) > e.max_bookings_per_day
        UNION ALL
        SELECT 'weekly', e.membership_id FROM eligibility e JOIN counted b USING (membership_id)
            WHERE e.max_bookings_per_week IS NOT NULL
            GROUP BY e.membership_id, e.max_bookings_per_week, date_trunc('week', b.local_day)
            HAVING count(*) > e.max_bookings_per_week
        UNION ALL
        SELECT 'carnet', e.membership_id FROM eligibility e JOIN counted b USING (membership_id)
            WHERE e.carnet_days IS NOT NULL
            GROUP BY e.membership_id, e.carnet_days
            HAVING count(DISTINCT b.local_day) > e.carnet_days
        UNION ALL
        SELECT 'meeting room', e.membership_id FROM eligibility e JOIN counted b USING (membership_id)
            WHERE e.meeting_room_minutes_per_month IS NOT NULL AND b.resource_kind = 'meeting_room'
            GROUP BY e.membership_id, e.meeting_room_minutes_per_month, date_trunc('month', b.local_day)
            HAVING sum(b.minutes) > e.meeting_room_minutes_per_month
        """, list(COUNTED))
    assert over_limit == [], [dict(r) for r in over_limit]

    # Exactly one event per change, first in the outbox, then on the topic partners read.
    def per_booking(pairs: list[tuple[str, str]]) -> dict[str, Counter[str]]:
        out: dict[str, Counter[str]] = {}
        for booking_id, event_type in pairs:
            out.setdefault(booking_id, Counter())[event_type] += 1
        return out

    expected = {b: Counter({ev.BookingConfirmed.event_type: 1,
                            **({ev.BookingCancelled.event_type: 1}
                               if r["status"] == "cancelled" else {})})
                for b, r in rows.items()}
    outbox = per_booking([(r["booking_id"], r["type"]) for r in await db.fetch(
        "SELECT payload->>'booking_id' AS booking_id, type FROM outbox "
        "WHERE type LIKE 'cowork.booking.booking.%'")])
    assert outbox == expected

    total = sum(sum(c.values()) for c in expected.values())
    records = await collect(svc.bootstrap, svc.topic_prefix + topics.BOOKING_EVENTS,
                            until=lambda seen: len(seen) >= total + 4,  # + resource.published
                            timeout=60)
    on_kafka = per_booking([(str(r.envelope.data.booking_id), r.envelope.type)  # type: ignore[union-attr]
                            for r in records if r.envelope.type.startswith("cowork.booking.booking.")])
    assert on_kafka == expected
    assert len(of_type(records, ev.ResourcePublished.event_type)) == 4


async def test_a_deadlock_between_a_promotion_and_a_series_answers_409_and_writes_nothing(
        svc: Booking) -> None:
    """The one lock cycle the design allows: Anna cancels, and her freed slot is promoted to
    Bruno inside her cancellation — which needs Bruno's membership — while a series of Bruno's
    holds that membership and waits to book over Anna's slot, still hers until her
    cancellation commits. PostgreSQL breaks the cycle by rolling one back; whichever it is,
    nobody gets a 500 and nothing is half-written."""
    space = await svc.space()
    desk = await svc.resource(space["id"])
    anna, bruno = await svc.member_with(), await svc.member_with()
    slot = (rome(2, 9), rome(2, 10))
    taken = (await svc.book(anna, desk["id"], *slot)).json()
    waiting = await svc.client.post("/v1/waitlist", headers=svc.member(bruno), json={
        "member_id": str(bruno), "resource_id": desk["id"], "start": slot[0], "end": slot[1]})
    assert waiting.status_code == 201

    db = svc.runtime.db
    async with db.acquire() as series:
        # Bruno's series, one booking in: it holds his membership until it commits.
        in_series = series.transaction()
        await in_series.start()
        resource = await store.resource_by_id(series, UUID(desk["id"]))
        await commands.book(series, member_id=bruno, resource=resource,
                            start=datetime.fromisoformat(rome(2, 14)),
                            end=datetime.fromisoformat(rome(2, 15)), now=svc.clock(),
                            policy=commands.Policy(), booked_by="member")
        cancelling = asyncio.create_task(svc.client.post(
            f"/v1/bookings/{taken['id']}/cancel", headers=svc.member(anna)))
        for _ in range(100):  # until the cancellation waits for Bruno's membership
            # In this test's database only: the server is shared with other test runs.
            # (a row lock's wait is on a transaction id, which names no database: by session)
            if await db.fetchval(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                    "WHERE NOT l.granted AND a.datname = current_database()"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the cancellation never waited for the series")
        series_error: BaseException | None = None
        try:  # the series' next week: Anna's slot
            await commands.book(series, member_id=bruno, resource=resource,
                                start=datetime.fromisoformat(slot[0]),
                                end=datetime.fromisoformat(slot[1]), now=svc.clock(),
                                policy=commands.Policy(), booked_by="member")
        except (asyncpg.DeadlockDetectedError, commands.Taken) as exc:
            series_error = exc
        finally:
            await in_series.rollback()
        cancelled = await cancelling

    after = await db.fetchrow("SELECT status FROM bookings WHERE id = $1", UUID(taken["id"]))
    entry = await db.fetchrow("SELECT status, booking_id FROM waitlist WHERE id = $1",
                              UUID(waiting.json()["id"]))
    cancellations = await db.fetchval(
        "SELECT count(*) FROM outbox WHERE type = $1 AND payload->>'booking_id' = $2",
        ev.BookingCancelled.event_type, taken["id"])
    if cancelled.status_code == 409:  # PostgreSQL chose the cancellation
        assert cancelled.json()["error"]["code"] == "concurrent_change"
        assert isinstance(series_error, commands.Taken)  # the slot stayed Anna's
        assert (after["status"], entry["status"], cancellations) == ("confirmed", "waiting", 0)
    else:  # it chose the series: the cancellation went through and promoted Bruno
        assert cancelled.status_code == 200, cancelled.text
        assert isinstance(series_error, asyncpg.DeadlockDetectedError)
        assert (after["status"], entry["status"], cancellations) == ("cancelled", "promoted", 1)
