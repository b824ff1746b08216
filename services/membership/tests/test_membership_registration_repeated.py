"""Issue 11: an anonymous registration with a tax code or e-mail already registered is answered
exactly like a new one and saves nothing; the member whose details were used is told through
`member.registration_repeated` (outbox, then Kafka), at most once an hour. On real PostgreSQL
and Kafka."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from membership_support import NEWCOMER, PERSON, UNUSED_TAX_CODE, Membership

from cowork.devtools.kafka import collect, of_type
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics

pytestmark = [pytest.mark.infra]

REPEATED = ev.MemberRegistrationRepeated.event_type


async def _register(svc: Membership, body: dict[str, Any], **headers: Any) -> Any:
    return await svc.client.post("/v1/members", json=body, **headers)


def _shape(value: Any) -> Any:
    """What a body looks like without its values: keys, nesting and JSON types."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__ if value is not None else "null"


async def _notices(svc: Membership) -> list[dict[str, Any]]:
    rows = await svc.runtime.db.fetch(
        "SELECT aggregateid, payload FROM outbox WHERE type = $1 ORDER BY seq", REPEATED)
    payloads = [json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
                for row in rows]
    assert [row["aggregateid"] for row in rows] == [p["member_id"] for p in payloads], \
        "keyed by the member told"
    return payloads


async def _member_count(svc: Membership) -> int:
    return int(await svc.runtime.db.fetchval("SELECT count(*) FROM members"))


@pytest.mark.parametrize(("attempt", "matched"), [
    ({"email": "someone.else@example.org"}, ["tax_code"]),
    ({"tax_code": UNUSED_TAX_CODE, "email": "GIULIA@example.org", "full_name": "G. B."},
     ["email"]),
    ({}, ["tax_code", "email"]),
], ids=["same tax code", "same email", "both"])
async def test_an_anonymous_duplicate_is_answered_like_a_new_registration_and_tells_the_member(
        svc: Membership, attempt: dict[str, Any], matched: list[str]) -> None:
    original = await _register(svc, PERSON)
    assert original.status_code == 201, original.text
    newcomer = await _register(svc, NEWCOMER)
    duplicate = await _register(svc, {**PERSON, **attempt})

    # The caller cannot tell the two answers apart by status, headers' kind or body shape.
    assert duplicate.status_code == newcomer.status_code == 201
    assert duplicate.headers["content-type"] == newcomer.headers["content-type"]
    assert _shape(duplicate.json()) == _shape(newcomer.json())
    assert set(duplicate.json()) == set(newcomer.json())
    assert duplicate.json()["id"] not in (original.json()["id"], newcomer.json()["id"])

    # Nothing of the attempt was stored; exactly one notice, for the member whose details it used.
    assert await _member_count(svc) == 2
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM members WHERE id = $1::uuid", duplicate.json()["id"]) == 0
    assert await _notices(svc) == [{"member_id": original.json()["id"],
                                    "at": "2027-01-31T09:00:00Z", "matched": matched}]
    # Only the original's registration and card, the newcomer's, and the notice.
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM outbox") == 5


async def test_the_notice_reaches_kafka_keyed_by_the_member_with_no_personal_data(
        svc: Membership) -> None:
    member = (await _register(svc, PERSON)).json()
    await _register(svc, {**PERSON, "email": "someone.else@example.org",
                          "full_name": "Someone Else"})
    records = await collect(svc.bootstrap, svc.topic_prefix + topics.MEMBERSHIP_EVENTS,
                            until=lambda rs: bool(of_type(rs, REPEATED)), timeout=30)
    [notice] = of_type(records, REPEATED)
    assert notice.key == member["id"] and notice.headers["ce_subject"] == member["id"]
    assert json.loads(notice.value or b"") == {"member_id": member["id"],
                                               "at": "2027-01-31T09:00:00Z",
                                               "matched": ["tax_code"]}
    for word in ("Giulia", "Bianchi", "giulia@", "someone.else", "Someone", "BNCGLI90A41F965D"):
        assert word.lower() not in (notice.value or b"").decode().lower()


async def test_details_of_two_members_tell_each_of_them(svc: Membership) -> None:
    giulia = (await _register(svc, PERSON)).json()
    mario = (await _register(svc, NEWCOMER)).json()
    # Giulia's tax code with Mario's e-mail.
    answer = await _register(svc, {**PERSON, "email": NEWCOMER["email"]})
    assert answer.status_code == 201
    notices = await _notices(svc)
    assert sorted((n["member_id"], n["matched"]) for n in notices) == sorted(
        [(giulia["id"], ["tax_code"]), (mario["id"], ["email"])])
    assert await _member_count(svc) == 2


async def test_staff_still_get_409_and_nobody_is_told(svc: Membership) -> None:
    await _register(svc, PERSON)
    for change, field in (({"email": "someone.else@example.org"}, "tax_code"),
                          ({"tax_code": UNUSED_TAX_CODE}, "email")):
        refused = await _register(svc, {**PERSON, **change}, headers=svc.token())
        assert refused.status_code == 409, refused.text
        assert refused.json()["error"]["field"] == field
    assert await _notices(svc) == []


async def test_at_most_one_notice_per_member_an_hour(svc: Membership) -> None:
    member = (await _register(svc, PERSON)).json()
    attempt = {**PERSON, "email": "someone.else@example.org"}
    for _ in range(3):
        assert (await _register(svc, attempt)).status_code == 201
    svc.clock.advance(minutes=59)
    assert (await _register(svc, {**attempt, "email": "GIULIA@example.org"})).status_code == 201
    assert [n["at"] for n in await _notices(svc)] == ["2027-01-31T09:00:00Z"]

    svc.clock.advance(minutes=1)  # an hour after the last notice
    assert (await _register(svc, attempt)).status_code == 201
    notices = await _notices(svc)
    assert [n["at"] for n in notices] == ["2027-01-31T09:00:00Z", "2027-01-31T10:00:00Z"]
    assert {n["member_id"] for n in notices} == {member["id"]}


async def test_concurrent_duplicates_tell_the_member_once(svc: Membership) -> None:
    await _register(svc, PERSON)
    answers = await asyncio.gather(*(
        _register(svc, {**PERSON, "email": f"attempt{i}@example.org"}) for i in range(12)))
    assert {a.status_code for a in answers} == {201}
    assert len(await _notices(svc)) == 1


async def test_an_erased_member_is_not_told_and_their_details_register_anew(
        svc: Membership) -> None:
    member = (await _register(svc, PERSON)).json()
    erased = await svc.client.delete(f"/v1/members/{member['id']}", headers=svc.token())
    assert erased.status_code == 204
    again = await _register(svc, PERSON)
    assert again.status_code == 201
    assert await svc.runtime.db.fetchval(
        "SELECT count(*) FROM members WHERE id = $1::uuid", again.json()["id"]) == 1
    assert await _notices(svc) == []
