"""Issue 20 #9: what staff type about a member (a suspension's note: "Zelinda Èrasmì
asked to pause, call +39 347 …") is free text. The events carry a reason code only: free text
on the membership events topic (not compacted: nothing removes it before its retention ends)
would reach every `"*"` webhook subscriber. The note stays in membership's tables, and after
the member's erasure none of it may be left: the scan of `test_erasure_leaves_nothing` over
membership's database and topics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from test_erasure_leaves_nothing import _hits_in_databases, _hits_in_topics

from cowork.devtools.services import bearer, eventually, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
STAFF = bearer("staff", "front-desk")


async def test_a_suspension_reason_naming_the_member_goes_with_the_erasure(  # type: ignore[no-untyped-def]
        infra, new_database, topic_prefix) -> None:
    dsn = await new_database()
    membership = membership_app(MembershipSettings(
        database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap, topic_prefix=topic_prefix,
        outbox_poll_seconds=0.2, topic_compaction_bound_ms=4000), clock=lambda: NOW)
    unique = uuid4().hex[:8]
    name, phone = f"Zelinda Èrasmì{unique}", f"+39 347 {int(unique, 16) % 10_000_000:07d}"
    address = f"zelinda.{unique}@example.org"
    needles = [name, phone, address]
    async with running(membership) as people:
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"]}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        registered = await people.post("/v1/members", headers=STAFF, json={
            "kind": "person", "full_name": name, "email": address, "phone": phone,
            "language": "en", "tax_code": "RSSMRA80A01H501U", "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        member_id = registered.json()["id"]
        sold = await people.post(f"/v1/members/{member_id}/memberships", headers=STAFF,
                                 json={"plan_code": "monthly", "starts_on": "2027-03-01"})
        assert sold.status_code == 201, sold.text
        # The event carries a code; what staff type goes in the note, kept in membership.
        note: dict[str, Any] = {"reason": "request", "note": f"{name} asked to pause; call {phone}"}
        for change in ("suspend", "reinstate"):
            changed = await people.post(f"/v1/memberships/{sold.json()['id']}/{change}",
                                        headers=STAFF, json=note)
            assert changed.status_code == 200, changed.text
        assert (await people.delete(f"/v1/members/{member_id}",
                                    headers=STAFF)).status_code == 204

        # The events topic (not compacted) is where a note would stay; the contact card on the
        # compacted contacts topic goes by compaction, which test_erasure_leaves_nothing times.
        events = topic_prefix + topics.MEMBERSHIP_EVENTS

        async def nothing_left():  # type: ignore[no-untyped-def]
            found = (await _hits_in_databases({"membership": dsn}, needles)
                     + await _hits_in_topics(infra.kafka_bootstrap, events, needles))
            return None if found else "clean"

        try:
            await eventually(nothing_left, timeout=90)  # the log cleaner runs every 15 s; slower under load
        except AssertionError:
            pass  # the assertion below says what is left
        left = (await _hits_in_databases({"membership": dsn}, needles)
                + await _hits_in_topics(infra.kafka_bootstrap, events, needles))
    assert left == [], "what staff wrote about the member outlives the erasure: " + "; ".join(left)


async def test_a_members_own_cancellation_reason_goes_with_the_erasure(  # type: ignore[no-untyped-def]
        infra, new_database, topic_prefix) -> None:
    """A member cancels their membership with a reason of their own words (kept in
    `memberships.status_reason`), later they are erased: only live memberships were touched
    by the erasure, so the finished one kept what they wrote."""
    dsn = await new_database()
    membership = membership_app(MembershipSettings(
        database_url=dsn, kafka_bootstrap=infra.kafka_bootstrap, topic_prefix=topic_prefix,
        outbox_poll_seconds=0.2), clock=lambda: NOW)
    unique = uuid4().hex[:8]
    name, address = f"Zelinda Èrasmì{unique}", f"zelinda.{unique}@example.org"
    async with running(membership) as people:
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"]}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        registered = await people.post("/v1/members", headers=STAFF, json={
            "kind": "person", "full_name": name, "email": address, "language": "en",
            "tax_code": "RSSMRA80A01H501U", "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        member_id = registered.json()["id"]
        me = bearer("member", member_id)
        sold = await people.post(f"/v1/members/{member_id}/memberships", headers=me,
                                 json={"plan_code": "monthly", "starts_on": "2027-03-01"})
        assert sold.status_code == 201, sold.text
        cancelled = await people.post(f"/v1/memberships/{sold.json()['id']}/cancel", headers=me,
                                      json={"reason": f"moving to Genova, write to {address}"})
        assert cancelled.status_code == 200, cancelled.text
        assert await _hits_in_databases({"membership": dsn}, [address])
        assert (await people.delete(f"/v1/members/{member_id}",
                                    headers=STAFF)).status_code == 204
        left = await _hits_in_databases({"membership": dsn}, [address, name])
    assert left == [], "what the member wrote outlives the erasure: " + "; ".join(left)
