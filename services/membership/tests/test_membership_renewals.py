"""Renewals under adversarial use (issue 19, case 1): a renewal pays for the next period, from
the current period's end, and never for one that starts more than a period ahead of today —
twenty renewals in one day buy one period, not twenty (each one is money a voucher pays)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from membership_support import MONTHLY, PERSON, Membership

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def _monthly_from(svc: Membership, starts_on: str) -> dict:
    assert (await svc.client.post("/v1/plans", json=MONTHLY,
                                  headers=svc.token())).status_code == 201
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    response = await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                     json={"plan_code": "monthly", "starts_on": starts_on},
                                     headers=svc.as_member(member["id"]))
    assert response.status_code == 201, response.text
    return response.json()


async def test_twenty_renewals_in_one_day_buy_one_period(svc: Membership) -> None:
    membership = await _monthly_from(svc, "2027-01-31")  # 31 January - 28 February
    answers = [await svc.client.post(f"/v1/memberships/{membership['id']}/renew",
                                     headers=svc.as_member(membership["member_id"]))
               for _ in range(20)]
    assert answers[0].status_code == 200, answers[0].text
    assert answers[0].json()["period_end"] == "2027-03-31"  # 1 March - 31 March
    assert [a.status_code for a in answers[1:]] == [409] * 19
    assert {a.json()["error"]["code"] for a in answers[1:]} == {"renewal_too_early"}
    current = await svc.client.get(f"/v1/memberships/{membership['id']}", headers=svc.token())
    assert current.json()["period_end"] == "2027-03-31"


async def test_a_renewal_is_allowed_again_once_today_has_caught_up(svc: Membership) -> None:
    membership = await _monthly_from(svc, "2027-01-31")
    renew = f"/v1/memberships/{membership['id']}/renew"
    assert (await svc.client.post(renew, headers=svc.token())).status_code == 200
    assert (await svc.client.post(renew, headers=svc.token())).status_code == 409
    svc.clock.now = datetime(2027, 3, 1, 9, tzinfo=UTC)  # the renewed period has begun
    again = await svc.client.post(renew, headers=svc.token())
    assert again.status_code == 200 and again.json()["period_end"] == "2027-04-30"


async def test_a_renewal_carries_the_period_it_pays_for(svc: Membership) -> None:
    membership = await _monthly_from(svc, "2027-01-31")
    assert (await svc.client.post(f"/v1/memberships/{membership['id']}/renew",
                                  headers=svc.token())).status_code == 200
    rows = await svc.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1",
                                      ev.MembershipRenewed.event_type)
    [payload] = [r["payload"] for r in rows]
    assert (payload["period_start"], payload["period_end"]) == ("2027-03-01", "2027-03-31")


async def test_a_lapsed_membership_renews_from_today_never_for_days_already_over(
        svc: Membership) -> None:
    """The expiry job has not run yet (a scheduler outage): the member comes back a week after
    the period ended. The renewal sells the period from today, not the week already over."""
    membership = await _monthly_from(svc, "2027-01-31")  # ends 28 February
    svc.clock.now = datetime(2027, 3, 8, 9, tzinfo=UTC)
    renewed = await svc.client.post(f"/v1/memberships/{membership['id']}/renew",
                                    headers=svc.token())
    assert renewed.status_code == 200, renewed.text
    assert (renewed.json()["period_start"], renewed.json()["period_end"]) == \
        ("2027-03-08", "2027-04-07")
    rows = await svc.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1",
                                      ev.MembershipRenewed.event_type)
    assert rows[0]["payload"]["period_start"] == "2027-03-08"


@pytest.mark.parametrize(("plan", "starts_on", "today"), [
    # A period ending on the last day of a month followed by a shorter one: the period a
    # member would begin today ends on the same day as the next one, so "one period ahead of
    # today" reached a period after it.
    ("monthly", "2027-01-01", datetime(2027, 1, 31, 9, tzinfo=UTC)),   # Jan, Feb, then March?
    ("monthly", "2027-03-01", datetime(2027, 3, 31, 9, tzinfo=UTC)),   # Mar, Apr, then May?
    ("annual", "2027-03-01", datetime(2028, 2, 29, 9, tzinfo=UTC)),    # a leap day: two years
])
async def test_at_a_month_end_two_renewals_in_one_day_still_buy_one_period(
        svc: Membership, plan: str, starts_on: str, today: datetime) -> None:
    """Renewed on the current period's last day, once for the next period: a second renewal
    the same day would pay for a period after one that has not begun yet (stacking)."""
    kind = {"code": plan, "name": plan, "kind": plan, "price_cents": 15000,
            "resource_kinds": ["hot_desk"]}
    assert (await svc.client.post("/v1/plans", json=kind, headers=svc.token())).status_code == 201
    svc.clock.now = datetime.fromisoformat(starts_on + "T09:00:00+00:00")
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    created = await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                    json={"plan_code": plan, "starts_on": starts_on},
                                    headers=svc.as_member(member["id"]))
    assert created.status_code == 201, created.text
    svc.clock.now = today
    renew = f"/v1/memberships/{created.json()['id']}/renew"
    first = await svc.client.post(renew, headers=svc.as_member(member["id"]))
    assert first.status_code == 200, first.text
    second = await svc.client.post(renew, headers=svc.as_member(member["id"]))
    assert second.status_code == 409, second.text
    assert second.json()["error"]["code"] == "renewal_too_early"
    renewed = await svc.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1",
                                         ev.MembershipRenewed.event_type)
    assert len(renewed) == 1
