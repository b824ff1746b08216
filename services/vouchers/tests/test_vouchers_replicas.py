"""The replicas the service keeps from other services' events, and the register of accredited
spaces checked against them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest
from vouchers_support import OFFICER, Vouchers

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_erasure_drops_personal_data_revokes_and_keeps_the_accounting(
        svc: Vouchers) -> None:
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"], tax_code="RSSMRA90E17F205X")
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000,
                                  day=date(2027, 3, 1)))  # today: stays paid
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=4_000,
                                  day=date(2027, 3, 2)))  # after the revocation: clawed back
    await svc.deliver(ev.MemberErased(member_id=member_id,
                                      erased_at=datetime(2027, 3, 2, tzinfo=UTC)))
    stored = await svc.runtime.db.fetch("SELECT declarations, undertaking_key FROM applications "
                                        "WHERE member_id = $1", member_id)
    assert [r["declarations"] for r in stored] == [{}]
    assert "RSSMRA" not in stored[0]["undertaking_key"]  # only ever a hash
    member = await svc.runtime.db.fetchrow("SELECT * FROM members WHERE member_id = $1",
                                           member_id)
    assert member["residence_istat"] is None and member["erased_at"] is not None
    voucher = await svc.voucher(voucher_id)
    assert (voucher["status"], voucher["end_reason"], voucher["released_cents"]) == \
        ("revoked", "member_erased", 149_000)
    assert (await svc.read_programme(programme["id"]))["disbursed_cents"] == 1_000  # stays paid
    await svc.ledger_is_balanced(programme["id"])


async def test_an_erased_applicant_leaves_the_ranking(svc: Vouchers) -> None:
    programme = await svc.programme(selection_mode="ranked", criteria=["younger_first"])
    member_id = await svc.member()
    application = (await svc.apply(programme["id"], member_id)).json()
    await svc.deliver(ev.MemberErased(member_id=member_id,
                                      erased_at=datetime(2027, 3, 2, tzinfo=UTC)))
    await svc.client.post(f"/v1/programmes/{programme['id']}/close", headers=OFFICER)
    withdrawn = (await svc.client.get(f"/v1/applications/{application['id']}",
                                      headers=OFFICER)).json()
    assert (withdrawn["status"], withdrawn["reasons"]) == ("rejected", ["member_erased"])
    assert (await svc.read_programme(programme["id"]))["committed_cents"] == 0


async def test_accreditation_is_checked_against_the_desks_booking_announced(
        svc: Vouchers) -> None:
    small = await svc.space(desks=4, accredited_from=None)
    refused = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(small), "from": "2027-03-01", "reason": "listed", "min_desks": 10},
        headers=OFFICER)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "too_few_desks"
    not_yet = uuid4()
    uncounted = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(not_yet), "from": "2027-03-01", "reason": "listed", "min_desks": 10},
        headers=OFFICER)
    assert uncounted.status_code == 422 and uncounted.json()["error"]["code"] == "space_unknown"
    unknown = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(not_yet), "from": "2027-03-01", "reason": "being set up"},
        headers=OFFICER)
    assert unknown.status_code == 201 and unknown.json()["known_space"] is False
    space_id = await svc.space()
    twice = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(space_id), "from": "2027-03-01", "reason": "again"}, headers=OFFICER)
    assert twice.status_code == 409

    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    svc.clock.now = datetime(2027, 3, 10, 9, tzinfo=UTC)
    ended = await svc.client.delete(f"/v1/accredited-spaces/{space_id}", headers=OFFICER)
    assert ended.status_code == 200 and ended.json()["until"] == "2027-03-10"
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000,
                                  day=date(2027, 3, 9)))  # before the end: counts
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000,
                                  day=date(2027, 3, 11)))  # after: does not
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 149_000
    listed = (await svc.client.get("/v1/accredited-spaces", headers=OFFICER)).json()["items"]
    assert {s["space_id"]: s["desks"] for s in listed}[str(space_id)] == 10


async def test_desks_out_of_service_do_not_count_towards_min_desks(svc: Vouchers) -> None:
    """Issue 19 case 9: a space of ten desks with one taken out of service has nine; a
    programme of at least ten desks pays nothing there, and accreditation by desks refuses it,
    until booking puts the desk back."""
    space_id = uuid4()
    desks = [uuid4() for _ in range(10)]

    async def publish(resource_id: object, in_service: bool | None) -> None:
        await svc.deliver(ev.ResourcePublished(
            resource_id=resource_id, space_id=space_id, name="Desk", kind="hot_desk", seats=1,
            price_per_hour_cents=300, in_service=in_service))

    for desk in desks:
        await publish(desk, None)  # records from before `in_service` existed: in service
    await publish(desks[0], False)
    refused = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(space_id), "from": "2027-01-01", "reason": "listed", "min_desks": 10},
        headers=OFFICER)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "too_few_desks"
    listed = await svc.client.post("/v1/accredited-spaces", json={
        "space_id": str(space_id), "from": "2027-01-01", "reason": "listed"}, headers=OFFICER)
    assert listed.status_code == 201 and listed.json()["desks"] == 9, listed.text

    programme = await svc.programme()  # min_desks 10
    member_id, voucher_id = await svc.granted(programme["id"])
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000
    await publish(desks[0], None)  # re-published without the field: its state is kept
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 150_000

    await publish(desks[0], True)
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000))
    assert (await svc.voucher(voucher_id))["remaining_cents"] == 149_000
    listed_now = (await svc.client.get("/v1/accredited-spaces", headers=OFFICER)).json()["items"]
    assert {s["space_id"]: s["desks"] for s in listed_now}[str(space_id)] == 10
