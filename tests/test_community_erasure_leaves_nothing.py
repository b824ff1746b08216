"""Issue 21, the proof that counts for people who are not members: a registrant of a public
meeting (mailed, confirmed from the mail) and a respondent to the expression-of-interest form
(who left an address) each ask for erasure and confirm it from the mail. After the compaction
bound no table of community's or notifications' database, no topic (read in the log itself)
and no log line holds their address or name. The scan is test_erasure_leaves_nothing's. The
mail sink is the outside world: it is not scanned."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from test_erasure_leaves_nothing import (
    BOUND_MS,
    _hits_in_databases,
    _hits_in_text,
    _hits_in_topics,
    service_logs,
)

from cowork.community.app import CommunitySettings
from cowork.community.app import create_app as community_app
from cowork.devtools.services import bearer, eventually, running
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as notifications_app

pytestmark = [pytest.mark.infra]
__all__ = ["service_logs"]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
STAFF = bearer("staff", "front-desk")
_LINK = re.compile(r"https?://\S+token=[A-Za-z0-9_%-]+")


def _mail_to(mailbox: Any, address: str) -> list[str]:
    """The plain-text bodies of the mails the sink took for `address`."""
    return [m.get_body(preferencelist=("plain",)).get_content() for m in mailbox.messages
            if address in str(m["To"])]


def _token(body: str, path: str) -> str:
    link = next(u for u in _LINK.findall(body) if path in u)
    return link.rsplit("token=", 1)[1]


async def test_an_erased_registrant_and_respondent_leave_nothing(  # type: ignore[no-untyped-def]
        infra, new_database, topic_prefix, sink, service_logs) -> None:
    smtp_port, mailbox = sink
    common: dict[str, Any] = {
        "kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
        "outbox_poll_seconds": 0.2, "log_json": True, "topic_compaction_bound_ms": BOUND_MS,
        "kafka_watch_seconds": 0.5}
    dsns = {name: await new_database() for name in ("notifications", "community")}
    community = community_app(CommunitySettings(database_url=dsns["community"], **common),
                              clock=lambda: NOW)
    notifications = notifications_app(NotificationsSettings(
        database_url=dsns["notifications"], smtp_port=smtp_port, dispatch_poll_seconds=0.1,
        **common))
    unique = uuid4().hex[:8]
    registrant, respondent = f"ottavia.{unique}@example.org", f"ugo.{unique}@example.org"
    surname = f"Fàvero{unique}"
    name = f"Ottavia {surname}"
    needles = [registrant, respondent, name, surname, f"ottavia.{unique}", f"ugo.{unique}"]

    async with running(notifications), running(community) as town:
        meeting = await town.post("/v1/meetings", headers=STAFF, json={
            "title": {"it": "Assemblea pubblica"}, "description": {"it": "Chi userebbe lo spazio"},
            "address": "Via Marconi 36, Novi Ligure", "start": "2027-03-10T09:00:00+01:00",
            "end": "2027-03-10T12:00:00+01:00", "capacity": 30})
        assert meeting.status_code == 201, meeting.text
        registered = await town.post(f"/v1/meetings/{meeting.json()['id']}/registrations", json={
            "full_name": name, "email": registrant, "consents": {"privacy": True},
            "language": "en"})
        assert registered.status_code == 201, registered.text
        interest = await town.post("/v1/interest", json={
            "who": "professional", "desk_kinds": ["hot_desk"], "weekdays": ["mon"],
            "time_bands": ["morning"], "frequency": "weekly", "would_help_run": True,
            "email": respondent, "consents": {"privacy": True}})
        assert interest.status_code == 201, interest.text

        [confirm_mail] = await eventually(lambda: _async(_mail_to(mailbox, registrant) or None))
        confirmed = await town.get("/v1/registrations/confirm",
                                   params={"token": _token(confirm_mail, "confirm")})
        assert confirmed.status_code == 200, confirmed.text
        assert await _hits_in_databases(dsns, needles)
        assert await _hits_in_topics(infra.kafka_bootstrap, topic_prefix, needles)

        for address in (registrant, respondent):
            asked = await town.post("/v1/erasure-requests", json={"email": address})
            assert asked.status_code == 202, asked.text

            async def erase_mail(address: str = address) -> str | None:
                return next((b for b in _mail_to(mailbox, address) if "erasure" in b), None)

            link = _token(await eventually(erase_mail), "erasure")
            done = await town.post("/v1/erasure-requests/confirm", params={"token": link})
            assert done.status_code == 200, done.text
            assert done.json()["erased"] >= 1

        async def nothing_left():  # type: ignore[no-untyped-def]
            found = (await _hits_in_databases(dsns, needles)
                     + await _hits_in_topics(infra.kafka_bootstrap, topic_prefix, needles))
            return None if found else "clean"

        try:
            await eventually(nothing_left, timeout=90)
        except AssertionError:
            pass  # the assertions below say what is left
        db_hits = await _hits_in_databases(dsns, needles)
        topic_hits = await _hits_in_topics(infra.kafka_bootstrap, topic_prefix, needles)
    logs = service_logs.readouterr()
    written = (logs.out + logs.err).lower()
    assert "erasure confirmed" in written, "the logs were read"
    assert topic_hits == [], "Kafka keeps the registrant's or respondent's data"
    assert _hits_in_text(written, needles) == [], "the logs quote them"
    assert db_hits == [], "a database keeps their data"


async def _async(value: Any) -> Any:
    return value
