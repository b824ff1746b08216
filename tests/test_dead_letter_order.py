"""Per-key order survives a dead letter, across services and through the operator's commands.

A member's `membership.activated` cannot be applied by booking (a fault injected in booking's
database); the membership is then cancelled. Booking must hold the member's key: the
cancellation is parked behind the dead letter, not applied to nothing. Once the cause is
fixed, `cowork dlq replay --key` re-publishes the activation; booking applies it and, in the
same transaction, the parked cancellation. At no moment can the member book.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.devtools.services import running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.shared import cli
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome
STAFF = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub="desk",
                                                  roles=["staff"])}


async def wait_for(check, what: str, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


POISON = """
CREATE FUNCTION poison_eligibility() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.member_id = '{member}' THEN
        RAISE EXCEPTION 'eligibility of this member refused (test fault)';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison_eligibility BEFORE INSERT OR UPDATE ON eligibility
    FOR EACH ROW EXECUTE FUNCTION poison_eligibility();
"""


async def test_poisoned_activation_then_cancellation_then_replay_never_lets_the_member_book(
        infra, new_database, topic_prefix, monkeypatch, capsys) -> None:
    common = {"kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
              "outbox_poll_seconds": 0.2, "log_json": False, "kafka_watch_seconds": 0.5}
    booking_db = await new_database()
    membership = membership_app(MembershipSettings(database_url=await new_database(), **common),
                                clock=lambda: NOW)
    booking = booking_app(BookingSettings(database_url=booking_db, consumer_max_attempts=2,
                                          consumer_retry_base_seconds=0.05, **common),
                          clock=lambda: NOW)
    monkeypatch.setenv("COWORK_KAFKA_BOOTSTRAP", infra.kafka_bootstrap)
    monkeypatch.setenv("COWORK_TOPIC_PREFIX", topic_prefix)
    async with running(membership) as people, running(booking) as desks:
        db = booking.state.runtime.db
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"]}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        member = (await people.post("/v1/members", json={
            "kind": "person", "full_name": "Giulia Bianchi", "email": "giulia@example.org",
            "tax_code": "BNCGLI90A41F965D", "consents": {"privacy": True}})).json()
        member_id = member["id"]
        me = {"Authorization": "Bearer " + issue_token(LOCAL_DEV_JWT_SECRET, sub=member_id,
                                                       roles=["member"])}
        space = (await desks.post("/v1/spaces", json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": {"tue": [["08:00", "19:00"]]}}, headers=STAFF)).json()
        desk = (await desks.post(f"/v1/spaces/{space['id']}/resources", json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300},
            headers=STAFF)).json()
        await db.execute(POISON.format(member=member_id))

        started = await people.post(f"/v1/members/{member_id}/memberships",
                                    json={"plan_code": "monthly", "starts_on": "2027-03-01"},
                                    headers=me)
        assert started.status_code == 201
        cancelled = await people.post(f"/v1/memberships/{started.json()['id']}/cancel",
                                      json={"reason": "moved away"}, headers=STAFF)
        assert cancelled.status_code == 200

        # From now on the member must never be able to book, whatever booking has applied.
        confirmed: list[httpx.Response] = []
        stop = asyncio.Event()

        async def keep_trying_to_book() -> None:
            while not stop.is_set():
                response = await desks.post("/v1/bookings", headers=me, json={
                    "member_id": member_id, "resource_id": desk["id"],
                    "start": "2027-03-02T09:00:00+01:00", "end": "2027-03-02T10:00:00+01:00"})
                if response.status_code == 201:
                    confirmed.append(response)
                await asyncio.sleep(0.02)

        booker = asyncio.create_task(keep_trying_to_book())

        async def cancellation_parked() -> bool:
            return await db.fetchval("SELECT count(*) FROM parked_records WHERE key = $1",
                                     member_id) == 1

        await wait_for(cancellation_parked, "the cancellation to be parked behind the dead letter")
        assert await db.fetchval("SELECT count(*) FROM eligibility") == 0

        # The operator sees the held key, fixes the cause and replays that key's dead letter.
        assert await asyncio.to_thread(cli.main, ["dlq", "list", "--service", "booking",
                                                  "--database-url", booking_db]) == 0
        listed = capsys.readouterr().out
        assert f"key={member_id}" in listed and "membership.activated" in listed
        assert "1 parked" in listed
        await db.execute("DROP TRIGGER poison_eligibility ON eligibility")
        assert await asyncio.to_thread(cli.main, [
            "dlq", "replay", "--service", "booking", "--key", member_id,
            "--database-url", booking_db]) == 0
        assert "1 record(s) replayed" in capsys.readouterr().out

        async def key_released() -> bool:
            return await db.fetchval("SELECT count(*) FROM dead_lettered_keys") == 0

        await wait_for(key_released, "the replayed activation to release the key")
        row = await db.fetchrow("SELECT status FROM eligibility WHERE member_id = $1::uuid",
                                member_id)
        assert row is not None and row["status"] == "cancelled"
        assert await db.fetchval("SELECT count(*) FROM parked_records") == 0
        await asyncio.sleep(0.5)  # a few more attempts after the release
        stop.set()
        await booker
        assert confirmed == [], "a member whose membership was cancelled could book"
