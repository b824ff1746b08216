"""What community's open data counts from vouchers' events: the declared status and age band on
voucher.granted (never the birth date), and a partita IVA opened while holding a voucher."""

from __future__ import annotations

import pytest
from vouchers_support import Vouchers, member_token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

PUGLIA = {"name": "Puglia 2020", "coverage_pct": 100, "cap_per_beneficiary_cents": 300_000,
          "eligibility": {"min_age": 18, "requires_partita_iva": True,
                          "partita_iva_grace_days": 30}}


async def test_a_grant_says_status_and_age_band_and_a_declared_partita_iva_is_an_event(
        svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    member_id, voucher_id = await svc.granted(programme["id"])  # born 17 May 1990, unemployed
    [granted] = await svc.outbox(ev.VoucherGranted)
    assert (granted["status"], granted["age_band"]) == ("unemployed", "35-44")
    assert not {"birth_date", "residence_istat", "statuses"} & set(granted)

    svc.clock.advance(days=10)
    declared = await svc.client.post(f"/v1/vouchers/{voucher_id}/partita-iva",
                                     json={"opened_on": "2027-03-09"},
                                     headers=member_token(member_id))
    assert declared.status_code == 200, declared.text
    [event] = await svc.outbox(ev.VoucherPartitaIvaDeclared)
    assert (event["voucher_id"], event["member_id"]) == (voucher_id, str(member_id))
    assert event["at"] == "2027-03-11T09:00:00Z"
