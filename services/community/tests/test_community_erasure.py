"""Erasure by e-mail confirmation link, end to end on real PostgreSQL: the same answer for a
known and an unknown address, a link only when something is held (at most 3 a day), the
link single use and valid 24 hours, and afterwards the address nowhere in community's
database — every text column of every table scanned, the outbox's payloads included.

The confirmation path calls the meetings' `erase_registrations_for_email` (another module of
the service): these tests need it present."""

from __future__ import annotations

import hashlib
import logging

import pytest
from interest_support import Community, community, new_address

from cowork.community.app import MIGRATIONS

pytestmark = [pytest.mark.infra]
__all__ = ["community"]

CARD = "cowork.community.contact.v1"
REQUESTED = "cowork.community.erasure.requested.v1"


async def places_holding(community: Community, text: str) -> list[str]:
    """Every table.column of community's database whose text holds `text` (any case)."""
    columns = await community.runtime.db.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() "
        "AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', "
        "'ARRAY', 'bytea')")
    found = []
    for c in columns:
        hit = await community.runtime.db.fetchval(
            f'SELECT EXISTS (SELECT 1 FROM "{c["table_name"]}" '  # noqa: S608 - catalogue names
            f'WHERE "{c["column_name"]}"::text ILIKE $1)', f"%{text}%")
        if hit:
            found.append(f"{c['table_name']}.{c['column_name']}")
    return found


async def test_known_and_unknown_addresses_get_the_same_answer(community: Community) -> None:
    known = new_address()
    await community.interest(email=known)
    answers = [await community.request_erasure(known),
               await community.request_erasure(new_address())]
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    # only the known address gets a card (and so a mail)
    cards = [c for c in await community.outbox(CARD) if c]
    assert [c["email"] for c in cards] == [known.lower()]
    assert cards[0]["full_name"] is None and cards[0]["language"] == "it"
    assert len(await community.outbox(REQUESTED)) == 1


async def test_erasure_end_to_end_leaves_the_address_nowhere(community: Community) -> None:
    email = new_address()
    kept = await community.interest(email=email)
    await community.interest(email=email.upper(), who="company")
    other = new_address()
    await community.interest(email=other)
    assert await places_holding(community, email)
    response = await community.request_erasure(email.swapcase(), language="en")
    assert response.status_code == 202
    assert (await community.confirm(await community.erase_link())).json() == {
        "status": "erased", "erased": 2}
    assert await places_holding(community, email) == []
    # the answers stay and still count; only the address went
    summary = await community.summary()
    assert summary["total_respondents"] == 3
    assert await community.runtime.db.fetchval(
        "SELECT email IS NULL FROM interest_expressions WHERE id = $1::uuid", kept)
    assert await places_holding(community, other) != []  # someone else's is untouched
    # the request's contact card is tombstoned (a record with no value, after the card)
    cards = await community.outbox(CARD)
    assert cards[-1] is None


async def test_a_link_works_once(community: Community) -> None:
    email = new_address()
    await community.interest(email=email)
    await community.request_erasure(email)
    token = await community.erase_link()
    assert (await community.confirm(token)).status_code == 200
    again = await community.confirm(token)
    assert again.status_code == 409 and again.json()["error"]["code"] == "erasure_link_used"


async def test_a_link_expires_after_24_hours(community: Community) -> None:
    email = new_address()
    await community.interest(email=email)
    await community.request_erasure(email)
    token = await community.erase_link()
    community.clock.advance(hours=24)
    late = await community.confirm(token)
    assert late.status_code == 410 and late.json()["error"]["field"] == "token"
    assert await community.runtime.db.fetchval(
        "SELECT count(*) FROM interest_expressions WHERE email = $1", email.lower()) == 1
    # a new request lets go of the expired one's address and card
    await community.request_erasure(new_address())
    assert await community.runtime.db.fetchval(
        "SELECT count(*) FROM erasure_requests WHERE email IS NOT NULL") == 0
    # the card's payload cleared from the outbox, and a tombstone after it
    assert await community.outbox(CARD) == [None, None]


async def test_unknown_and_malformed_tokens(community: Community) -> None:
    unknown = await community.confirm("a" * 43)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "erasure_link_unknown"
    for bad in ("short", "a" * 43 + "\x00", "a" * 200, "with spaces in it ........"):
        response = await community.confirm(bad)
        assert response.status_code == 422 and response.json()["error"]["field"] == "token"
    missing = await community.client.post("/v1/erasure-requests/confirm")
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "token"


async def test_at_most_three_mails_a_day_per_address(community: Community) -> None:
    email = new_address()
    await community.interest(email=email)
    for n in range(5):
        response = await community.request_erasure(email if n % 2 else email.upper())
        assert response.status_code == 202
    assert len([c for c in await community.outbox(CARD) if c]) == 3
    community.clock.advance(days=1, seconds=1)
    await community.request_erasure(email)
    assert len(await community.outbox(REQUESTED)) == 4


async def test_a_copy_of_the_requests_does_not_tell_who_asked(community: Community) -> None:
    """The digest that counts an address's requests is keyed: with a copy of the table (and
    without the service's key) anyone could hash a suspected address and look it up, known to
    community or not."""
    asked, held = new_address(), new_address()
    await community.interest(email=held)
    for address in (asked, held):
        assert (await community.request_erasure(address.upper())).status_code == 202
    stored = {r["email_digest"] for r in await community.runtime.db.fetch(
        "SELECT email_digest FROM erasure_requests")}
    assert len(stored) == 2
    for address in (asked, held):
        for written in (address, address.lower()):
            assert hashlib.sha256(written.encode()).hexdigest() not in stored


async def test_the_upgrade_leaves_no_unkeyed_digest(community: Community) -> None:
    """Rows from before the keyed digests (migration 0006) keep no plain hash of an address."""
    address = new_address()
    plain = hashlib.sha256(address.encode()).hexdigest()
    await community.runtime.db.execute(
        "INSERT INTO erasure_requests (id, email_digest, language, requested_at, expires_at) "
        "VALUES (gen_random_uuid(), $1, 'it', now(), now() + interval '1 day')", plain)
    await community.runtime.db.execute(MIGRATIONS.joinpath(
        "0006_keyed_erasure_digests.sql").read_text())
    stored = [r["email_digest"] for r in await community.runtime.db.fetch(
        "SELECT email_digest FROM erasure_requests")]
    assert len(stored) == 1 and plain not in stored


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "nobody"}, "email"), ({}, "email"), ({"email": "a\x00@example.org"}, "email"),
    ({"email": "x@example.org", "language": "de"}, "language"),
    ({"email": "x@example.org", "extra": True}, "extra")])
async def test_bad_requests_name_the_field(community: Community, body: dict, field: str
                                           ) -> None:
    response = await community.client.post("/v1/erasure-requests", json=body)
    assert response.status_code == 422
    error = response.json()["error"]
    assert field in {error.get("field")} | {p["field"] for p in error.get("problems") or []}


async def test_no_address_in_logs_or_on_the_events_topic(community: Community,
                                                         caplog: pytest.LogCaptureFixture,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    caplog.set_level(logging.DEBUG)
    email = new_address()
    await community.interest(email=email)
    await community.request_erasure(email)
    await community.request_erasure(new_address())
    await community.confirm(await community.erase_link())
    events = await community.runtime.db.fetch(
        "SELECT payload::text AS p FROM outbox WHERE aggregatetype LIKE '%community.events'")
    assert events and not [e for e in events if "@" in (e["p"] or "")]
    captured = capsys.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert "erasure requested" in logged
    assert "@example.org" not in logged.lower()
