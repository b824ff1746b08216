"""Public money inside its rules (issue 19, cases 3-7): a partita IVA declared late meets the
same age rule as at application; applications only for members the service knows; a declared
birth date agrees with the declared codice fiscale; a programme's deadline leaves time to use
its vouchers and a late close never fails; a ranked programme's grace runs from the grant."""

from __future__ import annotations

from uuid import uuid4

import pytest
from vouchers_support import OFFICER, Vouchers, member_token, token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]

STAFF = token("front-desk-7", "staff")
# Puglia 2020: a new partita IVA (at most 36 months old), or one opened within 30 days.
PUGLIA = {"name": "Puglia 2020", "coverage_pct": 100, "cap_per_beneficiary_cents": 300_000,
          "eligibility": {"min_age": 18, "requires_partita_iva": True,
                          "partita_iva_max_age_months": 36, "partita_iva_grace_days": 30}}


async def _declare(svc: Vouchers, voucher_id: str, opened_on: str,
                   headers: dict[str, str]) -> tuple[int, dict]:
    response = await svc.client.post(f"/v1/vouchers/{voucher_id}/partita-iva",
                                     json={"opened_on": opened_on}, headers=headers)
    return response.status_code, response.json()


# ---------------------------------------------------------------- case 3


async def test_a_partita_iva_declared_later_must_be_new_on_the_application_day(
        svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    member_id, voucher_id = await svc.granted(programme["id"])  # applied 1 March 2027
    svc.clock.advance(days=10)
    status, body = await _declare(svc, voucher_id, "2015-06-01", member_token(member_id))
    assert (status, body["error"]["code"], body["error"]["field"]) == \
        (409, "partita_iva_too_old", "opened_on")
    assert (await svc.voucher(voucher_id))["conditions_met"] is False
    # 36 months before the application day: still new then, though not on 11 March.
    status, body = await _declare(svc, voucher_id, "2024-03-01", member_token(member_id))
    assert status == 200, body
    assert body["conditions_met"] is True


async def test_a_partita_iva_declared_after_the_condition_deadline_is_refused(
        svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    member_id, voucher_id = await svc.granted(programme["id"])
    assert (await svc.voucher(voucher_id))["condition_deadline"] == "2027-03-31"
    svc.clock.advance(days=31)  # 1 April, 10:00: the revocation job has not run yet
    status, body = await _declare(svc, voucher_id, "2027-03-20", member_token(member_id))
    assert (status, body["error"]["code"]) == (409, "condition_deadline_passed")
    await svc.run_jobs()
    assert (await svc.voucher(voucher_id))["status"] == "revoked"


async def test_the_front_desk_may_declare_a_members_partita_iva(svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA)
    _, voucher_id = await svc.granted(programme["id"])
    status, body = await _declare(svc, voucher_id, "2027-03-01", STAFF)
    assert status == 200, body
    assert body["conditions_met"] is True


# ---------------------------------------------------------------- case 4


async def test_applications_for_members_the_service_does_not_know_commit_nothing(
        svc: Vouchers) -> None:
    programme = await svc.programme(budget_cents=300_000, cap_per_beneficiary_cents=150_000)
    answers = [await svc.client.post(
        f"/v1/programmes/{programme['id']}/applications",
        json={"member_id": str(uuid4()), "declarations": {"birth_date": "1990-05-17",
                                                          "member_kind": "person"}},
        headers=STAFF) for _ in range(199)]
    assert {(r.status_code, r.json()["error"]["code"], r.json()["error"]["field"])
            for r in answers} == {(409, "member_unknown", "member_id")}
    after = await svc.read_programme(programme["id"])
    assert (after["status"], after["available_cents"], after["committed_cents"]) == \
        ("open", 300_000, 0)
    # A real member still gets the money.
    await svc.granted(programme["id"])
    await svc.ledger_is_balanced(programme["id"])


async def test_an_erased_member_cannot_apply(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id = await svc.member()
    await svc.deliver(ev.MemberErased(member_id=member_id, erased_at=svc.clock()))
    response = await svc.client.post(
        f"/v1/programmes/{programme['id']}/applications",
        json={"member_id": str(member_id), "declarations": {"birth_date": "1990-05-17"}},
        headers=STAFF)
    assert response.status_code == 409
    assert response.json()["error"]["code"] in {"member_unknown", "member_erased"}
    assert (await svc.read_programme(programme["id"]))["committed_cents"] == 0


async def test_a_staff_application_records_who_submitted_it(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id = await svc.member()
    by_staff = await svc.client.post(
        f"/v1/programmes/{programme['id']}/applications",
        json={"member_id": str(member_id), "declarations": {"birth_date": "1990-05-17"}},
        headers=STAFF)
    assert by_staff.status_code == 201, by_staff.text
    read = (await svc.client.get(f"/v1/applications/{by_staff.json()['id']}",
                                 headers=OFFICER)).json()
    assert read["submitted_by"] == "front-desk-7"
    own = await svc.apply(programme["id"], await svc.member())
    assert own.json()["submitted_by"] == own.json()["member_id"]


# ---------------------------------------------------------------- case 5


@pytest.mark.parametrize(("tax_code", "birth_date", "consistent"), [
    ("RSSMRA90E17F205Z", "1990-05-17", True),
    ("RSSMRAVLE17F205Z", "1990-05-17", True),    # omocodia: 9 -> V, 0 -> L
    ("BNCGLI90A41F965D", "1990-01-01", True),    # a woman: day + 40
    ("RSSMRA90E17F205Z", "1990-05-18", False),
    ("RSSMRAVLE17F205Z", "1991-05-17", False),
    ("BNCGLI90A41F965D", "1990-01-41", None),    # not a date: 422 before any rule
])
async def test_a_declared_birth_date_must_agree_with_the_codice_fiscale(
        svc: Vouchers, tax_code: str, birth_date: str, consistent: bool | None) -> None:
    programme = await svc.programme()
    response = await svc.apply(programme["id"], await svc.member(), birth_date=birth_date,
                               tax_code=tax_code)
    if consistent is None:
        assert response.status_code == 422
        return
    application = response.json()
    if consistent:
        assert application["status"] == "granted", application
    else:
        assert (application["status"], application["reasons"]) == \
            ("rejected", ["declaration_inconsistent"])
        assert (await svc.read_programme(programme["id"]))["committed_cents"] == 0


# ---------------------------------------------------------------- case 6


async def test_a_deadline_on_the_last_valid_day_leaves_no_time_and_is_refused(
        svc: Vouchers) -> None:
    response = await svc.client.post("/v1/programmes", headers=OFFICER, json={
        "name": "Nessun tempo", "budget_cents": 300_000, "coverage_pct": 50,
        "cap_per_beneficiary_cents": 150_000, "valid_from": "2027-03-01",
        "valid_until": "2027-06-30", "application_deadline": "2027-06-30",
        "selection_mode": "ranked"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "application_deadline"


async def test_a_ranked_programme_closing_after_its_validity_closes_without_granting(
        svc: Vouchers) -> None:
    programme = await svc.programme(selection_mode="ranked", valid_until="2027-03-10",
                                    application_deadline="2027-03-09", max_duration_months=None)
    application = (await svc.apply(programme["id"], await svc.member())).json()
    assert application["status"] == "pending"
    svc.clock.advance(days=10, hours=14)  # 12 March 00:00 Rome: the close job runs late
    await svc.run_jobs()
    closed = await svc.read_programme(programme["id"])
    assert (closed["status"], closed["committed_cents"]) == ("closed", 0)
    decided = (await svc.client.get(f"/v1/applications/{application['id']}",
                                    headers=OFFICER)).json()
    assert (decided["status"], decided["reasons"]) == ("rejected", ["programme_ended"])
    jobs = await svc.runtime.db.fetch("SELECT done_at FROM scheduled_jobs "
                                      "WHERE kind = 'vouchers.close'")
    assert [j["done_at"] is not None for j in jobs] == [True]
    await svc.ledger_is_balanced(programme["id"])


async def test_an_officer_closing_after_the_validity_gets_an_answer_not_a_500(
        svc: Vouchers) -> None:
    programme = await svc.programme(selection_mode="ranked", valid_until="2027-03-10",
                                    max_duration_months=None)
    await svc.apply(programme["id"], await svc.member())
    svc.clock.advance(days=12)
    closed = await svc.client.post(f"/v1/programmes/{programme['id']}/close", headers=OFFICER)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"


# ---------------------------------------------------------------- case 7


async def test_a_ranked_programmes_grace_period_runs_from_the_grant(svc: Vouchers) -> None:
    programme = await svc.programme(**PUGLIA, selection_mode="ranked",
                                    application_deadline="2027-04-15",
                                    criteria=["younger_first"])
    application = (await svc.apply(programme["id"], await svc.member())).json()
    assert application["status"] == "pending"
    svc.clock.advance(days=45, hours=14)  # 16 April 00:00 Rome (CEST): closes and grants
    await svc.run_jobs()
    granted = (await svc.client.get(f"/v1/applications/{application['id']}",
                                    headers=OFFICER)).json()
    assert granted["status"] == "granted", granted
    voucher = await svc.voucher(granted["voucher_id"])
    assert (voucher["status"], voucher["condition_deadline"]) == ("active", "2027-05-16")
    assert granted["condition_deadline"] == "2027-05-16"
    await svc.run_jobs()
    assert (await svc.voucher(granted["voucher_id"]))["status"] == "active"
