"""Monthly statements: drafts from the ledger, issuing freezes the bytes and their SHA-256,
a late event lands in the next month, and the ledger regenerates an issued statement byte for
byte."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from uuid import UUID, uuid4

import pytest
from vouchers_support import OFFICER, Vouchers, member_token

from cowork.shared.events import contracts as ev
from cowork.vouchers import commands

pytestmark = [pytest.mark.infra]


async def test_issue_freezes_the_month_and_a_late_event_lands_in_the_next(svc: Vouchers) -> None:
    programme = await svc.programme()
    pid = programme["id"]
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(pid)
    march_booking = svc.booking(member_id, space_id, charged_cents=2_000)
    await svc.deliver(march_booking)

    draft = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-03", headers=OFFICER)
    assert draft.status_code == 200 and draft.headers["x-statement-status"] == "draft"
    document = draft.json()
    [line] = document["lines"]
    assert (line["kind"], line["amount_cents"], line["price_cents"], line["source_id"],
            line["voucher_id"], line["space_id"]) == \
        ("redemption", 1_000, 2_000, str(march_booking.booking_id), voucher_id, str(space_id))
    assert (document["redeemed_cents"], document["net_cents"]) == (1_000, 1_000)
    as_csv = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-03",
                                  headers={**OFFICER, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["kind"], r["amount_cents"]) for r in rows] == [("redemption", "1000")]

    assert (await svc.client.post(f"/v1/programmes/{pid}/statements/2027-03/issue",
                                  headers=member_token(member_id))).status_code == 403
    issued = await svc.client.post(f"/v1/programmes/{pid}/statements/2027-03/issue",
                                   headers=OFFICER)
    assert issued.status_code == 201, issued.text
    sha256 = issued.json()["sha256"]
    assert sha256 == hashlib.sha256(draft.content).hexdigest()
    [event] = await svc.outbox(ev.StatementIssued)
    assert (event["period"], event["sha256"], event["lines"], event["net_cents"]) == \
        ("2027-03", sha256, 1, 1_000)

    # Still March by the clock, but the March statement is issued: the line goes to April.
    svc.clock.advance(days=10)
    late = svc.booking(member_id, space_id, charged_cents=4_000)
    await svc.deliver(late)
    frozen = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-03", headers=OFFICER)
    assert frozen.content == draft.content and frozen.headers["x-statement-status"] == "issued"
    april = (await svc.client.get(f"/v1/programmes/{pid}/statements/2027-04",
                                  headers=OFFICER)).json()
    assert [line["source_id"] for line in april["lines"]] == [str(late.booking_id)]

    # April: the March booking is cancelled; its reversal is an April line.
    svc.clock.now = datetime(2027, 4, 2, 9, tzinfo=UTC)
    await svc.deliver(ev.BookingCancelled(booking_id=march_booking.booking_id,
                                          member_id=member_id, cancelled_by="member",
                                          late=False, charged_cents=0, cancelled_at=svc.clock()))
    april = (await svc.client.get(f"/v1/programmes/{pid}/statements/2027-04",
                                  headers=OFFICER)).json()
    assert [(line["kind"], line["amount_cents"]) for line in april["lines"]] == \
        [("redemption", 2_000), ("reversal", -1_000)]
    assert (april["redeemed_cents"], april["reversed_cents"], april["net_cents"]) == \
        (2_000, 1_000, 1_000)

    elsewhere = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-03?space_id={uuid4()}",
                                     headers=OFFICER)
    assert elsewhere.json()["lines"] == []
    here = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-03?space_id={space_id}",
                                headers=OFFICER)
    assert here.content == frozen.content  # every March line was at this space

    async with svc.runtime.db.acquire() as conn:
        regenerated = await commands.render_statement(conn, UUID(pid), "2027-03")
    assert regenerated.json_bytes == frozen.content and regenerated.sha256 == sha256

    again = await svc.client.post(f"/v1/programmes/{pid}/statements/2027-03/issue",
                                  headers=OFFICER)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_issued"
    future = await svc.client.post(f"/v1/programmes/{pid}/statements/2027-06/issue",
                                   headers=OFFICER)
    assert future.status_code == 409
    bad = await svc.client.get(f"/v1/programmes/{pid}/statements/2027-13", headers=OFFICER)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "period"


async def test_transparency_lists_beneficiaries_above_1000_euro_a_year(svc: Vouchers) -> None:
    big = await svc.programme()
    small = await svc.programme(name="Piccolo", cap_per_beneficiary_cents=100_000)
    above, _ = await svc.granted(big["id"])
    at_limit, _ = await svc.granted(small["id"])
    listed = (await svc.client.get("/v1/transparency?year=2027", headers=OFFICER)).json()
    assert [i["member_id"] for i in listed["items"]] == [str(above)]
    per_programme = (await svc.client.get(
        f"/v1/programmes/{small['id']}/beneficiaries?year=2027", headers=OFFICER)).json()
    assert [(i["member_id"], i["publication_required"]) for i in per_programme["items"]] == \
        [(str(at_limit), False)]


async def test_de_minimis_reduces_a_grant_to_the_undertakings_headroom(svc: Vouchers) -> None:
    first = await svc.programme(name="Regional aid", budget_cents=50_000_000,
                                cap_per_beneficiary_cents=29_950_000)
    second = await svc.programme()
    await svc.granted(first["id"], tax_code="RSSMRA90E17F205X")
    member_id = await svc.member()
    reduced = (await svc.apply(second["id"], member_id, tax_code="rssmra90e17f205x")).json()
    assert reduced["status"] == "granted" and reduced["reasons"] == ["de_minimis_reduced"]
    assert (await svc.voucher(reduced["voucher_id"]))["amount_cents"] == 50_000
    register = (await svc.client.get("/v1/de-minimis?tax_code=RSSMRA90E17F205X&on=2027-03-01",
                                     headers=OFFICER)).json()
    assert (register["headroom_cents"], len(register["grants"])) == (0, 2)
    third = await svc.programme(name="Third")
    refused = (await svc.apply(third["id"], await svc.member(),
                               tax_code="RSSMRA90E17F205X")).json()
    assert refused["status"] == "rejected" and refused["reasons"] == ["de_minimis_exceeded"]
