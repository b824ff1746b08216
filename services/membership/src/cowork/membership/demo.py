"""Demo data for `make run`: the plans of the Biblioteca Civica space and a few members.
Loaded at start when MEMBERSHIP_DEMO_DATA=true; loading it again changes nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cowork.membership import commands, domain, store
from cowork.shared.logging import get_logger
from cowork.shared.service import ServiceRuntime

log = get_logger(__name__)

ALL_KINDS = ["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]

PLANS: list[dict[str, Any]] = [
    {"code": "day-pass", "name": "Day pass", "kind": "day_pass", "price_cents": 1500,
     "resource_kinds": ["hot_desk", "phone_booth"], "max_bookings_per_day": 2},
    {"code": "carnet-10", "name": "Carnet 10 days", "kind": "carnet", "price_cents": 12000,
     "resource_kinds": ["hot_desk", "phone_booth"], "days": 10, "max_bookings_per_day": 2},
    {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
     "resource_kinds": ["hot_desk", "meeting_room", "phone_booth"],
     "meeting_room_minutes_per_month": 240, "max_bookings_per_day": 2,
     "max_bookings_per_week": 8, "overage": {"meeting_room": "charge"}},
    {"code": "quarterly", "name": "Quarterly", "kind": "quarterly", "price_cents": 42000,
     "resource_kinds": ["hot_desk", "meeting_room", "phone_booth"],
     "meeting_room_minutes_per_month": 360, "max_bookings_per_day": 3},
    {"code": "annual", "name": "Annual", "kind": "annual", "price_cents": 140000,
     "resource_kinds": ALL_KINDS, "meeting_room_minutes_per_month": 600},
]

# Valid tax codes (check digits computed with python-stdnum); F965 is Novi Ligure.
MEMBERS: list[dict[str, Any]] = [
    {"kind": "person", "full_name": "Giulia Bianchi", "email": "giulia.bianchi@example.org",
     "phone": "+39 0143 000001", "language": "it", "tax_code": "BNCGLI90A41F965D",
     "residence_istat": "006114", "plan": "monthly"},
    {"kind": "person", "full_name": "Luca Verdi", "email": "luca.verdi@example.org",
     "phone": None, "language": "en", "tax_code": "VRDLCU80C01F965J",
     "residence_istat": "006114", "plan": "carnet-10"},
    {"kind": "organisation", "full_name": "Cooperativa Gavi Digitale",
     "email": "info@gavi-digitale.example.org", "phone": None, "language": "it",
     "tax_code": "02114050061", "residence_istat": "006114", "plan": "annual"},
]


async def load(runtime: ServiceRuntime) -> None:
    now = runtime.clock()
    today = now.astimezone(domain.ROME).date()
    async with runtime.db.acquire() as conn, conn.transaction():
        for plan in PLANS:
            if await store.plan_by_code(conn, plan["code"]) is None:
                await store.insert_plan(conn, plan, now - timedelta(seconds=1))
        for spec in MEMBERS:
            exists = await conn.fetchval(
                "SELECT 1 FROM members WHERE tax_code = $1 AND erased_at IS NULL",
                spec["tax_code"])
            if exists:
                continue
            member = await commands.register_member(
                conn, kind=spec["kind"], full_name=spec["full_name"], email=spec["email"],
                phone=spec["phone"], language=spec["language"], tax_code=spec["tax_code"],
                residence_istat=spec["residence_istat"], marketing=False, now=now)
            await commands.start_membership(conn, member_id=member["id"],
                                            plan_code=spec["plan"], starts_on=today, now=now)
    log.info("demo data loaded", plans=len(PLANS), members=len(MEMBERS))
