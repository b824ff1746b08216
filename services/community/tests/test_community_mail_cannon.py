"""The registration form is not a mail cannon: whoever types someone else's address gets that
address a confirmation mail per meeting, so an address that has confirmed none of its recent
registrations gets only a few (MAX_UNCONFIRMED_PER_ADDRESS a week), whatever the number of
meetings, waiting lists or holds expired and requested again."""

from __future__ import annotations

import pytest
from community_support import Community, svc

from cowork.community.commands.registrations import MAX_UNCONFIRMED_PER_ADDRESS
from cowork.shared.events import contracts as ev
from cowork.shared.retention import Retention, purge

pytestmark = [pytest.mark.infra]
__all__ = ["svc"]


async def _cards_for(svc: Community, email: str) -> int:
    return sum(1 for card in await svc.outbox(ev.CommunityContact)
               if card["email"].lower() == email)


async def test_an_address_that_never_confirmed_gets_few_mails(svc: Community) -> None:
    victim = "persona-victim@example.org"
    meetings = [await svc.meeting(capacity=1 if n % 2 else 5) for n in range(8)]
    answers = [await svc.register(m["id"], "-victim") for m in meetings]
    taken = [a for a in answers if a.status_code == 201]
    assert len(taken) == MAX_UNCONFIRMED_PER_ADDRESS
    refused = [a for a in answers if a.status_code != 201]
    assert {(a.status_code, a.json()["error"]["field"]) for a in refused} == {(429, "email")}
    assert await _cards_for(svc, victim) == MAX_UNCONFIRMED_PER_ADDRESS
    # The same request again still gets its answer (no new mail).
    again = await svc.register(meetings[0]["id"], "-victim")
    assert (again.status_code, again.json()["id"]) == (201, taken[0].json()["id"])

    # Holds expire (a mail each) and the address is registered again: still capped.
    svc.clock.advance(hours=49)
    await svc.run_jobs()
    for m in meetings:
        await svc.register(m["id"], "-victim")
    assert await _cards_for(svc, victim) == MAX_UNCONFIRMED_PER_ADDRESS


async def test_a_confirmed_address_registers_for_every_meeting(svc: Community) -> None:
    meetings = [await svc.meeting(capacity=5) for _ in range(MAX_UNCONFIRMED_PER_ADDRESS + 2)]
    for m in meetings:
        answer = await svc.register(m["id"], "-keen")
        assert answer.status_code == 201, answer.text
        assert (await svc.confirm(answer.json()["id"])).status_code == 200


async def test_a_stranger_cannot_tell_whether_an_address_is_registered(svc: Community) -> None:
    """docs/community-meetings.md: the same answer for a known address as for a new one. On a
    full meeting a new address is waitlisted: a known one must be answered the same way."""
    meeting = await svc.meeting(capacity=1)
    await svc.registered(meeting["id"], "-known")
    await svc.registered(meeting["id"], "-waiting")
    known = (await svc.register(meeting["id"], "-known")).json()
    waiting = (await svc.register(meeting["id"], "-waiting")).json()
    stranger = (await svc.register(meeting["id"], "-stranger")).json()
    assert (known["status"], known["position"]) == ("waitlisted", 2)
    assert (waiting["status"], waiting["position"]) == ("waitlisted", 2)
    assert (stranger["status"], stranger["position"]) == ("waitlisted", 2)


async def test_a_copy_of_the_database_opens_no_link(svc: Community) -> None:
    """domain/interest.py token_digest: 'a copy of the database opens no link' — nor does the
    card Kafka already has, once the housekeeping cleared its payload (cowork.shared.retention
    `outbox_personal`)."""
    meeting = await svc.meeting(capacity=5)
    answer = await svc.registered(meeting["id"], "-copied")
    token = await svc.link_token(answer["id"], "confirm")
    await svc.runtime.db.execute("UPDATE outbox SET published_at = now() "
                                 "WHERE published_at IS NULL")  # as the relay does
    await purge(svc.runtime.db, Retention())  # the housekeeping's next round
    holding = await svc.runtime.db.fetchval(
        "SELECT count(*) FROM outbox WHERE payload::text LIKE $1", f"%{token}%")
    assert holding == 0
