"""Demo data for `make run`: the Biblioteca Civica of Novi Ligure, where the 2015 public meeting
about the town's first coworking space was held. Loading it again changes nothing."""

from __future__ import annotations

from typing import Any

from cowork.booking import commands
from cowork.shared.demo_ids import DEMO_SPACE_ID
from cowork.shared.logging import get_logger
from cowork.shared.service import ServiceRuntime

log = get_logger(__name__)

SPACE: dict[str, Any] = {
    "name": "Biblioteca Civica",
    "address": "Via Marconi 36, 15067 Novi Ligure (AL)",
    "timezone": "Europe/Rome",
    "opening_hours": {day: [["08:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    | {"sat": [["09:00", "13:00"]]},
    "closures": ["08-05"],  # Madonna della Neve, the patron saint's day
}

DESK = {"seats": 1, "price_per_hour_cents": 300, "price_per_day_cents": 1500,
        "slot_minutes": 30, "min_minutes": 60, "max_minutes": 660, "advance_days": 60}
RESOURCES: list[dict[str, Any]] = (
    [{"name": f"Hot desk {n}", "kind": "hot_desk", **DESK} for n in range(1, 9)]
    + [{"name": f"Fixed desk {n}", "kind": "fixed_desk", **DESK, "price_per_day_cents": 2000}
       for n in range(1, 3)]
    + [{"name": "Sala Marconi", "kind": "meeting_room", "seats": 10,
        "price_per_hour_cents": 2500, "slot_minutes": 30, "min_minutes": 30, "max_minutes": 480,
        "advance_days": 90, "buffer_minutes": 15, "pay_per_use": True},
       {"name": "Phone booth", "kind": "phone_booth", "seats": 1, "price_per_hour_cents": 200,
        "slot_minutes": 15, "min_minutes": 15, "max_minutes": 120, "advance_days": 14,
        "pay_per_use": True}]
)


async def load(runtime: ServiceRuntime) -> None:
    now = runtime.clock()
    async with runtime.db.acquire() as conn, conn.transaction():
        space_id = await conn.fetchval("SELECT id FROM spaces WHERE name = $1", SPACE["name"])
        if space_id is None:
            space_id = (await commands.create_space(conn, now=now, space_id=DEMO_SPACE_ID,
                                                    **SPACE))["id"]
        existing = {r["name"] for r in await conn.fetch(
            "SELECT name FROM resources WHERE space_id = $1", space_id)}
        for resource in RESOURCES:
            if resource["name"] not in existing:
                await commands.create_resource(conn, space_id, resource, now)
    log.info("demo data loaded", space=SPACE["name"], resources=len(RESOURCES))
