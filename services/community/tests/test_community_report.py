"""The council's monthly report: a multi-page PDF of charts in the asked language, checked by
rendering its pages; and the public charts from the published data."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import uuid4

import pypdfium2 as pdfium
import pytest
from stats_support import Stats, stats, token

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]
__all__ = ["stats"]

MARCH = datetime(2027, 3, 10, 9, tzinfo=UTC)


async def _a_month(stats: Stats) -> None:
    programme, voucher, member = uuid4(), uuid4(), uuid4()
    await stats.deliver(ev.ProgrammeOpened(
        programme_id=programme, name="Voucher Novi 2027", budget_cents=5_000_000,
        coverage_pct=50, cap_per_beneficiary_cents=150_000, valid_from=date(2027, 3, 1),
        valid_until=date(2027, 12, 31), selection_mode="first_come"))
    await stats.deliver(ev.MemberRegistered(member_id=member, kind="person", language="it",
                                            residence_istat="006114", registered_at=MARCH,
                                            age_band="25-34"))
    await stats.deliver(ev.VoucherGranted(voucher_id=voucher, programme_id=programme,
                                          member_id=member, amount_cents=150_000,
                                          valid_until=date(2027, 12, 31), status="unemployed",
                                          age_band="25-34"), at=MARCH)
    await stats.deliver(ev.VoucherRedeemed(
        voucher_id=voucher, member_id=member, source_type="booking", source_id=uuid4(),
        price_cents=2_000, subsidy_cents=1_000, remaining_cents=149_000),
        at=MARCH + timedelta(days=3))
    space, resource = uuid4(), uuid4()
    for day in range(8, 13):
        start = datetime(2027, 3, day, 8, tzinfo=UTC)
        await stats.deliver(ev.BookingConfirmed(
            booking_id=uuid4(), member_id=member, space_id=space, resource_id=resource,
            resource_kind="hot_desk", start=start, end=start + timedelta(hours=4),
            price_cents=1_200))
    meeting = uuid4()
    await stats.deliver(ev.MeetingPublished(meeting_id=meeting, title="Coworking a Novi",
                                            start=MARCH, end=MARCH + timedelta(hours=3),
                                            space_id=None, capacity=60))
    await stats.deliver(ev.MeetingClosed(meeting_id=meeting, attendance=41, registered=52,
                                         checked_in=38))
    await stats.deliver(ev.InterestExpressed(
        interest_id=uuid4(), who="professional", desk_kinds=["hot_desk"],
        weekdays=["mon", "tue"], time_bands=["morning"], would_help_run=True))


@pytest.mark.parametrize(("lang", "expected", "other"), [
    ("it", "Budget residuo per programma", "Budget burn-down per programme"),
    ("en", "Budget burn-down per programme", "Budget residuo per programma")])
async def test_the_monthly_pdf_has_its_charts_in_the_asked_language(
        stats: Stats, lang: str, expected: str, other: str) -> None:
    await _a_month(stats)
    response = await stats.client.get(f"/v1/reports/2027-03.pdf?lang={lang}",
                                      headers=token("officer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    pdf = pdfium.PdfDocument(response.content)
    assert len(pdf) == 6
    text = ""
    for page in pdf:
        image = page.render(scale=0.5).to_pil().convert("L")
        pixels = list(image.getdata())
        mean = sum(pixels) / len(pixels)
        assert sum((p - mean) ** 2 for p in pixels) / len(pixels) > 10  # not blank
        text += page.get_textpage().get_text_range()
    assert expected in text and other not in text
    assert "2027-03" in text


async def test_the_report_is_for_officers_and_staff(stats: Stats) -> None:
    assert (await stats.client.get("/v1/reports/2027-03.pdf")).status_code == 401
    assert (await stats.client.get("/v1/reports/2027-03.pdf",
                                   headers=token("member", sub=str(uuid4())))).status_code == 403
    assert (await stats.client.get("/v1/reports/2027-13.pdf",
                                   headers=token("staff"))).status_code == 422


async def test_public_charts_come_from_the_published_data(stats: Stats) -> None:
    assert (await stats.client.get("/v1/open-data/charts/occupancy-heatmap.png")).status_code \
        == 404  # nothing published yet
    await _a_month(stats)
    assert (await stats.build("2027-03")).status_code == 201
    for name in ("occupancy-heatmap", "members-by-age-band"):
        png = await stats.client.get(f"/v1/open-data/charts/{name}.png")
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    assert (await stats.client.get("/v1/open-data/charts/nope.png")).status_code == 404
