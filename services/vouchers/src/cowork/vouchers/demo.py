"""Demo data for `make run`: a programme modelled on Milan's 2013 coworking vouchers (Comune +
Camera di Commercio) and booking's demo space accredited. Loading it again changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from cowork.shared.demo_ids import DEMO_SPACE_ID
from cowork.shared.logging import get_logger
from cowork.shared.service import ServiceRuntime
from cowork.vouchers.commands.accreditations import accredit
from cowork.vouchers.commands.programmes import open_programme
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.store import accreditations, programmes

log = get_logger(__name__)

PROGRAMME_NAME = "Voucher coworking (modello Milano 2013)"


def milan_2013(today: date) -> dict[str, Any]:
    """EUR 298,240; 50% of the coworker's costs, at most EUR 1,500 a year for at most 12
    months; first come, first served; only at accredited spaces with at least 10 desks."""
    return {
        "name": PROGRAMME_NAME, "budget_cents": 29_824_000, "coverage_pct": 50,
        "cap_per_beneficiary_cents": 150_000, "cap_per_year_cents": 150_000,
        "kind_caps_cents": {}, "min_eligible_cost_cents": 0,
        "valid_from": today, "valid_until": date(today.year + 2, 12, 31),
        "max_duration_months": 12, "selection_mode": "first_come", "application_deadline": None,
        "criteria": [], "rna_code": None,
        "eligibility": {"member_kinds": ["person"], "min_age": 18},
        "subsidises": {"memberships": True, "bookings": True,
                       "resource_kinds": ["hot_desk", "fixed_desk"]},
        "accredited_space_ids": None, "min_desks": 10,
    }


async def load(runtime: ServiceRuntime) -> None:
    now = runtime.clock()
    today = rome_date(now)
    async with runtime.db.acquire() as conn, conn.transaction():
        # Both steps under one advisory lock: two replicas starting together load it once.
        await programmes.lock_demo_loading(conn)
        if not await programmes.programme_named(conn, PROGRAMME_NAME):
            await open_programme(conn, milan_2013(today), now)
        if await accreditations.open_accreditation(conn, DEMO_SPACE_ID) is None:
            await accredit(conn, DEMO_SPACE_ID, today, "demo: Biblioteca Civica, 10 desks",
                           now)
    log.info("demo data loaded", programme=PROGRAMME_NAME, space_id=str(DEMO_SPACE_ID))
