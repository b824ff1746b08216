"""Time-driven work with the clock in the test's hands: expiry releases the remainder, the
14-day notice goes once, a conditional grant without a partita IVA is revoked, a ranked
programme closes the day after its deadline."""

from __future__ import annotations

from datetime import date

import pytest
from vouchers_support import OFFICER, Vouchers, member_token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_expiry_releases_the_remainder_after_a_single_notice(svc: Vouchers) -> None:
    programme = await svc.programme(max_duration_months=1)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=10_000))
    assert (await svc.voucher(voucher_id))["valid_until"] == "2027-03-31"

    svc.clock.advance(days=15)  # 16 March, before the notice (17 March, 00:00 Rome)
    await svc.run_jobs()
    assert await svc.outbox(ev.VoucherExpiring) == []
    svc.clock.advance(days=1)
    await svc.run_jobs()
    await svc.run_jobs()
    [expiring] = await svc.outbox(ev.VoucherExpiring)
    assert (expiring["valid_until"], expiring["remaining_cents"]) == ("2027-03-31", 145_000)

    svc.clock.advance(days=14)  # 31 March, 10:00: still valid all day
    await svc.run_jobs()
    assert (await svc.voucher(voucher_id))["status"] == "active"
    svc.clock.advance(hours=14)  # 1 April 00:00 Rome
    await svc.run_jobs()
    voucher = await svc.voucher(voucher_id)
    assert (voucher["status"], voucher["remaining_cents"], voucher["released_cents"]) == \
        ("expired", 0, 145_000)
    [expired] = await svc.outbox(ev.VoucherExpired)
    assert expired["released_cents"] == 145_000
    after = await svc.read_programme(programme["id"])
    assert (after["available_cents"], after["committed_cents"], after["disbursed_cents"]) == \
        (29_824_000 - 5_000, 0, 5_000)
    await svc.ledger_is_balanced(programme["id"])


PUGLIA = {"name": "Puglia 2020", "coverage_pct": 100, "cap_per_beneficiary_cents": 300_000,
          "eligibility": {"min_age": 18, "requires_partita_iva": True,
                          "partita_iva_grace_days": 30}}


async def test_a_conditional_grant_without_a_partita_iva_is_revoked_after_30_days(
        svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    voucher = await svc.voucher(voucher_id)
    assert (voucher["condition_deadline"], voucher["conditions_met"]) == ("2027-03-31", False)
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=10_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 300_000  # pays nothing yet

    svc.clock.advance(days=30, hours=14)  # 1 April 00:00 Rome: the deadline has passed
    await svc.run_jobs()
    voucher = await svc.voucher(voucher_id)
    assert (voucher["status"], voucher["end_reason"]) == ("revoked", "partita_iva_not_opened")
    [revoked] = await svc.outbox(ev.VoucherRevoked)
    assert (revoked["reason"], revoked["released_cents"]) == ("partita_iva_not_opened", 300_000)
    await svc.ledger_is_balanced(programme["id"])


async def test_declaring_the_partita_iva_in_time_keeps_the_grant(svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    svc.clock.advance(days=10)
    declared = await svc.client.post(f"/v1/vouchers/{voucher_id}/partita-iva",
                                     json={"opened_on": "2027-03-09"},
                                     headers=member_token(member_id))
    assert declared.status_code == 200, declared.text
    assert declared.json()["conditions_met"] is True
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=10_000,
                                  day=date(2027, 3, 12)))
    svc.clock.advance(days=40)
    await svc.run_jobs()
    voucher = await svc.voucher(voucher_id)
    assert (voucher["status"], voucher["remaining_cents"]) == ("active", 290_000)


async def test_a_ranked_programme_closes_and_ranks_the_day_after_its_deadline(
        svc: Vouchers) -> None:
    programme = await svc.programme(selection_mode="ranked", application_deadline="2027-03-10",
                                    criteria=["younger_first"])
    member_id = await svc.member()
    application = (await svc.apply(programme["id"], member_id)).json()
    assert application["status"] == "pending"
    svc.clock.advance(days=9)  # 10 March: the last day to apply
    await svc.run_jobs()
    assert (await svc.read_programme(programme["id"]))["status"] == "open"
    svc.clock.advance(hours=14)  # 11 March 00:00 Rome
    await svc.run_jobs()
    assert (await svc.read_programme(programme["id"]))["status"] == "closed"
    decided = (await svc.client.get(f"/v1/applications/{application['id']}",
                                    headers=OFFICER)).json()
    assert decided["status"] == "granted"
    too_late = await svc.apply(programme["id"], await svc.member())
    assert too_late.status_code == 409


async def test_a_first_come_programme_closes_the_day_after_its_validity(svc: Vouchers) -> None:
    programme = await svc.programme(valid_until="2027-03-05")
    svc.clock.advance(days=4)  # 5 March, 10:00
    await svc.run_jobs()
    assert (await svc.read_programme(programme["id"]))["status"] == "open"
    svc.clock.advance(hours=14)  # 6 March 00:00 Rome
    await svc.run_jobs()
    assert (await svc.read_programme(programme["id"]))["status"] == "closed"
    assert len(await svc.outbox(ev.ProgrammeClosed)) == 1
