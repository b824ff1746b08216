"""What partners see on Kafka: the exact events, keys and headers, and the scheduler's
time-driven transitions, exactly once, also after downtime."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from membership_support import MONTHLY, PERSON, Membership

from cowork.devtools.kafka import SeenRecord, collect, of_type
from cowork.membership import commands
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.scheduler import Scheduler

pytestmark = [pytest.mark.infra]

PII = ("Giulia", "Bianchi", "giulia@example.org", "BNCGLI90A41F965D", "0143")


async def _events(svc: Membership, until, topic: str = topics.MEMBERSHIP_EVENTS) -> list[SeenRecord]:
    return await collect(svc.bootstrap, svc.topic_prefix + topic, until=until, timeout=30)


# A renewal pays for the next period once the current one has begun: the memberships these
# tests buy on 31 January start on 1 February.
FEBRUARY_1ST = datetime(2027, 2, 1, 9, tzinfo=UTC)


def _has(*types: str, count: int = 1):
    return lambda records: all(len(of_type(records, t)) >= count for t in types)


async def _member_with_membership(svc: Membership) -> tuple[str, str]:
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    await svc.client.post("/v1/plans", json=MONTHLY, headers=svc.token())
    membership = (await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                        json={"plan_code": "monthly", "starts_on": "2027-02-01"},
                                        headers=svc.token())).json()
    return member["id"], membership["id"]


async def test_registration_publishes_the_event_and_the_contact_card(svc: Membership) -> None:
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    records = await _events(svc, _has(ev.MemberRegistered.event_type))
    [registered] = of_type(records, ev.MemberRegistered.event_type)
    assert registered.key == member["id"]
    assert registered.headers["ce_source"] == "/cowork/membership"
    assert registered.headers["ce_subject"] == member["id"]
    assert registered.headers["ce_specversion"] == "1.0"
    assert registered.headers["content-type"] == "application/json"
    assert json.loads(registered.value or b"") == {
        "member_id": member["id"], "kind": "person", "language": "it",
        "residence_istat": "006114", "registered_at": "2027-01-31T09:00:00Z",
        "age_band": "35-44"}
    for record in records:  # personal data never travels on the event topic
        assert not any(word in (record.value or b"").decode() for word in PII)

    cards = await _events(svc, _has(ev.ContactCard.event_type), topics.MEMBERSHIP_CONTACTS)
    [card] = cards
    assert card.key == member["id"]
    assert card.envelope.data == ev.ContactCard(member_id=uuid.UUID(member["id"]),
                                                full_name="Giulia Bianchi",
                                                email="giulia@example.org",
                                                phone="+39 0143 000001", language="it")


async def test_membership_lifecycle_events_with_plan_rights(svc: Membership) -> None:
    member_id, membership_id = await _member_with_membership(svc)
    base = f"/v1/memberships/{membership_id}"
    await svc.client.post(f"{base}/suspend", json={"reason": "conduct"}, headers=svc.token())
    await svc.client.post(f"{base}/reinstate", json={"reason": "request"}, headers=svc.token())
    svc.clock.now = FEBRUARY_1ST  # renewed once the period bought on 31 January has begun
    await svc.client.post(f"{base}/renew", headers=svc.token())
    await svc.client.post(f"{base}/cancel", headers=svc.token())
    records = await _events(svc, _has(ev.MembershipCancelled.event_type))
    lifecycle = [r.envelope.type for r in records if ".membership.membership." in r.envelope.type]
    assert lifecycle == [ev.MembershipActivated.event_type, ev.MembershipSuspended.event_type,
                         ev.MembershipReinstated.event_type, ev.MembershipRenewed.event_type,
                         ev.MembershipCancelled.event_type]
    assert {r.key for r in records} == {member_id}, "keyed by member: one member's events in order"
    activated = of_type(records, ev.MembershipActivated.event_type)[0].envelope.data
    assert activated == ev.MembershipActivated(
        membership_id=uuid.UUID(membership_id), member_id=uuid.UUID(member_id),
        plan_code="monthly", plan_kind="monthly", resource_kinds=["hot_desk", "meeting_room"],
        period_start="2027-02-01", period_end="2027-02-28", price_cents=15000,
        max_bookings_per_day=2, meeting_room_minutes_per_month=240,
        overage={"hot_desk": "refuse", "meeting_room": "refuse"})
    renewed = of_type(records, ev.MembershipRenewed.event_type)[0].envelope.data
    assert renewed.period_end.isoformat() == "2027-03-31" and renewed.price_cents == 15000
    suspended = of_type(records, ev.MembershipSuspended.event_type)[0].envelope.data
    assert suspended.reason == "conduct"


async def test_a_suspension_travels_as_a_code_and_its_note_stays_with_staff(
        svc: Membership) -> None:
    """Issue 20, point 9: the events reach every webhook subscriber, so they carry a reason
    code; the desk's free-text note is kept by membership and shown to staff only."""
    member_id, membership_id = await _member_with_membership(svc)
    base = f"/v1/memberships/{membership_id}"
    note = "Giulia Bianchi shouted at the desk on 3 Feb"
    free_text = await svc.client.post(f"{base}/suspend", json={"reason": "three no-shows"},
                                      headers=svc.token())
    assert free_text.status_code == 422
    assert free_text.json()["error"]["field"] == "reason"
    suspended = await svc.client.post(f"{base}/suspend", json={"reason": "conduct", "note": note},
                                      headers=svc.token())
    assert suspended.status_code == 200, suspended.text
    assert (suspended.json()["status_reason"], suspended.json()["status_note"]) == ("conduct", note)
    reinstated = await svc.client.post(f"{base}/reinstate",
                                       json={"reason": "other", "note": "apologised: " + note},
                                       headers=svc.token())
    assert reinstated.status_code == 200, reinstated.text

    staff_view = (await svc.client.get(base, headers=svc.token())).json()
    member_view = (await svc.client.get(base, headers=svc.as_member(member_id))).json()
    assert staff_view["status_note"] == "apologised: " + note
    assert member_view["status_note"] is None and member_view["status_reason"] == "other"
    own_list = (await svc.client.get(f"/v1/members/{member_id}/memberships",
                                     headers=svc.as_member(member_id))).json()
    assert [m["status_note"] for m in own_list["items"]] == [None]

    records = await _events(svc, _has(ev.MembershipReinstated.event_type))
    changes = [r for r in records if r.envelope.type in (ev.MembershipSuspended.event_type,
                                                           ev.MembershipReinstated.event_type)]
    assert [r.envelope.data.reason for r in changes] == ["conduct", "other"]
    assert all(b"shouted" not in (r.value or b"") for r in records), "the note never leaves"
    assert (await svc.client.delete(f"/v1/members/{member_id}",
                                    headers=svc.token())).status_code == 204
    notes = await svc.runtime.db.fetch("SELECT status_note FROM memberships")
    assert [n["status_note"] for n in notes] == [None], "the note goes with the erasure"


async def test_erasure_publishes_erased_and_a_contacts_tombstone(svc: Membership) -> None:
    member_id, _ = await _member_with_membership(svc)
    assert (await svc.client.delete(f"/v1/members/{member_id}", headers=svc.token())).status_code == 204
    records = await _events(svc, _has(ev.MemberErased.event_type))
    types = [r.envelope.type for r in records]
    assert types.index(ev.MembershipCancelled.event_type) < types.index(ev.MemberErased.event_type)
    contacts = await _events(svc, lambda rs: any(r.value is None for r in rs),
                             topics.MEMBERSHIP_CONTACTS)
    tombstone = contacts[-1]
    assert tombstone.value is None and tombstone.key == member_id
    assert tombstone.envelope.data is None
    assert tombstone.headers["ce_type"] == ev.ContactCard.event_type


async def test_expiry_notices_catch_up_after_downtime_exactly_once(svc: Membership) -> None:
    _, membership_id = await _member_with_membership(svc)  # 1 to 28 February 2027
    jobs = {commands.EXPIRE_JOB: commands.expire_job,
            commands.EXPIRING_JOB: commands.expiring_job}
    early = Scheduler(svc.runtime.db, jobs)
    assert await early.run_due(datetime(2027, 2, 20, 12, tzinfo=UTC)) == 0
    # The service was down from 20 February to 3 March: both fell due meanwhile.
    restarted = Scheduler(svc.runtime.db, jobs)
    assert await restarted.run_due(datetime(2027, 3, 3, 8, tzinfo=UTC)) == 2
    assert await Scheduler(svc.runtime.db, jobs).run_due(datetime(2027, 3, 10, tzinfo=UTC)) == 0
    records = await _events(svc, _has(ev.MembershipExpired.event_type))
    [expiring] = of_type(records, ev.MembershipExpiring.event_type)
    [expired] = of_type(records, ev.MembershipExpired.event_type)
    assert str(expiring.envelope.data.membership_id) == membership_id
    assert expiring.envelope.data.period_end.isoformat() == "2027-02-28"
    assert expiring.envelope.data.days_left == 0  # caught up late: no days are left
    assert expired.envelope.data.at == datetime(2027, 3, 3, 8, tzinfo=UTC)
    status = await svc.client.get(f"/v1/memberships/{membership_id}", headers=svc.token())
    assert status.json()["status"] == "expired"


async def test_renewal_moves_the_expiry(svc: Membership) -> None:
    _, membership_id = await _member_with_membership(svc)
    svc.clock.now = FEBRUARY_1ST  # renewed once the period bought on 31 January has begun
    await svc.client.post(f"/v1/memberships/{membership_id}/renew", headers=svc.token())
    jobs = {commands.EXPIRE_JOB: commands.expire_job,
            commands.EXPIRING_JOB: commands.expiring_job}
    scheduler = Scheduler(svc.runtime.db, jobs)
    assert await scheduler.run_due(datetime(2027, 3, 2, tzinfo=UTC)) == 0, "no longer due"
    assert await scheduler.run_due(datetime(2027, 3, 25, tzinfo=UTC)) == 1  # the 7-day notice
    status = await svc.client.get(f"/v1/memberships/{membership_id}", headers=svc.token())
    assert status.json()["status"] == "active"


async def test_activation_carries_what_the_plan_includes_and_its_overage(svc: Membership) -> None:
    """Booking decides the charge from these fields alone; the price paid travels on both the
    activation and the renewal."""
    member = (await svc.client.post("/v1/members", json=PERSON)).json()
    plan = await svc.client.post("/v1/plans", json={
        **MONTHLY, "code": "desk-plus", "price_cents": 9900,
        "resource_kinds": ["hot_desk", "meeting_room", "phone_booth"],
        "included_kinds": ["hot_desk", "meeting_room"], "overage": {"meeting_room": "charge"}},
        headers=svc.token())
    assert plan.status_code == 201, plan.text
    assert plan.json()["included_kinds"] == ["hot_desk", "meeting_room"]
    assert plan.json()["overage"] == {"hot_desk": "refuse", "meeting_room": "charge",
                                      "phone_booth": "refuse"}
    membership = (await svc.client.post(f"/v1/members/{member['id']}/memberships",
                                        json={"plan_code": "desk-plus", "starts_on": "2027-02-01"},
                                        headers=svc.token())).json()
    svc.clock.now = FEBRUARY_1ST  # renewed once the period bought on 31 January has begun
    await svc.client.post(f"/v1/memberships/{membership['id']}/renew", headers=svc.token())
    records = await _events(svc, _has(ev.MembershipRenewed.event_type))
    [activated] = of_type(records, ev.MembershipActivated.event_type)
    assert activated.envelope.data.included_kinds == ["hot_desk", "meeting_room"]
    assert activated.envelope.data.overage == {"hot_desk": "refuse", "meeting_room": "charge",
                                               "phone_booth": "refuse"}
    assert activated.envelope.data.price_cents == membership["price_cents"] == 9900
    [renewed] = of_type(records, ev.MembershipRenewed.event_type)
    assert renewed.envelope.data.price_cents == 9900


@pytest.mark.parametrize(("change", "field"), [
    ({"included_kinds": ["event_room"]}, "included_kinds"),
    ({"overage": {"event_room": "charge"}}, "overage"),
    ({"overage": {"hot_desk": "maybe"}}, "overage.hot_desk"),
])
async def test_plan_charges_name_only_kinds_the_plan_may_book(svc: Membership, change: dict,
                                                              field: str) -> None:
    response = await svc.client.post("/v1/plans", json={**MONTHLY, **change},
                                     headers=svc.token())
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
