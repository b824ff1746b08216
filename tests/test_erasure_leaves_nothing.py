"""Issue 20, the proof that counts: a member with a unique address registers, books (and is
mailed; their mail preferences set), has a contact card of theirs dead-lettered (and the next
one parked behind it), and a partner's webhook delivered (another partner's failing); then they
are erased. After the compaction bound (4 s here, COWORK_TOPIC_COMPACTION_BOUND_MS) no
table of any service's database, no topic (the DLQ included, read in the log itself after
compaction) and no log line holds their address, name, tax code or phone. The mail sink is
the outside world: it is not scanned."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cowork.booking.app import BookingSettings
from cowork.booking.app import create_app as booking_app
from cowork.community.app import CommunitySettings
from cowork.community.app import create_app as community_app
from cowork.devtools.kafka import read_log
from cowork.devtools.services import bearer, eventually, running
from cowork.membership.app import MembershipSettings
from cowork.membership.app import create_app as membership_app
from cowork.notifications.app import NotificationsSettings
from cowork.notifications.app import create_app as notifications_app
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.kafka import ResilientProducer, reliable_producer
from cowork.vouchers.app import VouchersSettings
from cowork.vouchers.app import create_app as vouchers_app

pytestmark = [pytest.mark.infra]

NOW = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)  # Monday 08:00 in Rome
STAFF = bearer("staff", "front-desk")
PARTNER = bearer("partner", "job-centre")
BOUND_MS = 4000


class Receiver:
    """A partner's webhook endpoint: answers `status` and counts the requests."""

    def __init__(self, status: bytes = b"200 OK") -> None:
        self.status = status
        self.requests = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        self.requests += 1
        writer.write(b"HTTP/1.1 " + self.status +
                     b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hooks"


@pytest.fixture
def service_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """What the services write (structlog, to stdout) while the test runs."""
    yield capfd
    # Their logger writes to the stdout of when it was configured: this capture, closed
    # after the test. Later tests in this process log to whatever stdout is current.
    structlog.configure(logger_factory=structlog.PrintLoggerFactory())


def _hits_in_text(text: str, needles: list[str]) -> list[str]:
    """The needles `text` holds, whatever their case, as typed or JSON-escaped (structlog's
    lines and `json.dumps` write an accented letter as \\uXXXX), also where a row's text
    doubled the backslashes of such an escape."""
    folded = text.casefold()
    texts = (folded, folded.replace("\\\\", "\\"))
    return [n for n in needles if any(form in t for t in texts for form in (
        n.casefold(), json.dumps(n)[1:-1].casefold()))]


def _unpacked(raw: bytes | None) -> str:
    """Bytes as the text they hold: UTF-8, inflated first when gzipped."""
    raw = raw or b""
    if raw[:2] == b"\x1f\x8b":
        with contextlib.suppress(OSError, EOFError):
            raw = gzip.decompress(raw)
    return raw.decode(errors="replace")


# Every relation that holds rows (tables, partitioned tables, materialized views) in every
# schema but the catalogues, with its bytea columns: a row as text shows bytea in hex, so
# those are read as the bytes they hold.
_RELATIONS = """
SELECT format('%I.%I', n.nspname, c.relname) AS name,
       array(SELECT quote_ident(a.attname) FROM pg_attribute a WHERE a.attrelid = c.oid
             AND a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'bytea'::regtype) AS binary
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
"""


async def _hits_in_databases(dsns: dict[str, str], needles: list[str]) -> list[str]:
    hits = []
    for service, dsn in dsns.items():
        conn = await asyncpg.connect(dsn)
        try:
            for relation in await conn.fetch(_RELATIONS):
                columns = ", ".join(["r::text", *relation["binary"]])
                rows = await conn.fetch(  # names from the catalogue, quoted
                    f"SELECT {columns} FROM {relation['name']} AS r")  # noqa: S608
                hits += [f"{service}: {relation['name']} has {n!r}" for row in rows
                         for n in _hits_in_text(" ".join([row[0], *map(_unpacked, row[1:])]),
                                                needles)]
            objects = await conn.fetch("SELECT loid, string_agg(data, '' ORDER BY pageno) "
                                       "AS data FROM pg_largeobject GROUP BY loid")
            hits += [f"{service}: large object {o['loid']} has {n!r}" for o in objects
                     for n in _hits_in_text(_unpacked(o["data"]), needles)]
        finally:
            await conn.close()
    return hits


async def _hits_in_topics(bootstrap: str, prefix: str, needles: list[str]) -> list[str]:
    """The needles in every record (key, value, headers) of the topics under `prefix`, as the
    log holds them now; aiokafka inflates compressed batches."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
    finally:
        await admin.close()
    hits = []
    for topic in names:
        for record in await read_log(bootstrap, topic):
            text = " ".join(_unpacked(part) for part in [
                record.key, record.value, *(v for _, v in record.headers)])
            hits += [f"{topic}@{record.partition}:{record.offset} has {n!r}"
                     for n in _hits_in_text(text, needles)]
    return hits


async def test_an_erased_member_leaves_nothing_in_databases_topics_or_logs(  # type: ignore[no-untyped-def]
        infra, new_database, topic_prefix, sink, service_logs) -> None:
    smtp_port, mailbox = sink
    common: dict[str, Any] = {
        "kafka_bootstrap": infra.kafka_bootstrap, "topic_prefix": topic_prefix,
        "outbox_poll_seconds": 0.2, "log_json": True, "topic_compaction_bound_ms": BOUND_MS,
        "kafka_watch_seconds": 0.5}
    dsns = {name: await new_database() for name in
            ("membership", "booking", "vouchers", "notifications", "community")}
    membership = membership_app(MembershipSettings(database_url=dsns["membership"], **common),
                                clock=lambda: NOW)
    booking = booking_app(BookingSettings(database_url=dsns["booking"], **common),
                          clock=lambda: NOW)
    vouchers = vouchers_app(VouchersSettings(database_url=dsns["vouchers"], **common))
    # community reads membership's events for its open-data aggregates: it must keep counts,
    # never the member.
    community = community_app(CommunitySettings(database_url=dsns["community"], **common),
                              clock=lambda: NOW)
    notifications = notifications_app(NotificationsSettings(
        database_url=dsns["notifications"], smtp_port=smtp_port, dispatch_poll_seconds=0.1,
        **common))
    unique = uuid4().hex[:8]
    address = f"zelinda.{unique}@example.org"
    surname = f"Èrasmì{unique}"  # accented, as most of the town's: escaped in JSON lines
    name = f"Zelinda {surname}"
    tax_code = "RSSMRA80A01H501U"
    digits = f"{int(unique, 16) % 10_000_000:07d}"
    phone, new_phone = f"+39 347 {digits}", f"+39 348 {digits}"
    # Also the parts a service could keep alone or reformat: the surname, the address's
    # local part, the numbers without spaces (E.164).
    needles = [address, name, tax_code, phone, new_phone, surname, f"zelinda.{unique}",
               f"347{digits}", f"348{digits}"]
    receiver, failing = Receiver(), Receiver(b"500 Internal Server Error")
    hook_url, failing_url = await receiver.start(), await failing.start()

    async with running(membership) as people, running(booking) as desks, \
            running(vouchers), running(notifications) as mailer, running(community):
        hook = await mailer.post("/v1/webhooks", headers=PARTNER, json={
            "url": hook_url, "event_types": [ev.BookingConfirmed.event_type]})
        assert hook.status_code == 201, hook.text
        broken = await mailer.post("/v1/webhooks", headers=PARTNER, json={
            "url": failing_url, "event_types": [ev.BookingConfirmed.event_type]})
        assert broken.status_code == 201, broken.text
        plan = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
                "resource_kinds": ["hot_desk"]}
        assert (await people.post("/v1/plans", json=plan, headers=STAFF)).status_code == 201
        registered = await people.post("/v1/members", headers=STAFF, json={
            "kind": "person", "full_name": name, "email": address, "phone": phone,
            "language": "en", "tax_code": tax_code, "consents": {"privacy": True}})
        assert registered.status_code == 201, registered.text
        member_id = registered.json()["id"]
        me = bearer("member", member_id)
        subscribed = await mailer.put(f"/v1/members/{member_id}/preferences", headers=me,
                                      json={"opted_out": []})
        assert subscribed.status_code == 200, subscribed.text
        assert (await people.post(f"/v1/members/{member_id}/memberships", headers=me, json={
            "plan_code": "monthly", "starts_on": "2027-03-01"})).status_code == 201

        space = (await desks.post("/v1/spaces", headers=STAFF, json={
            "name": "Biblioteca Civica", "address": "Via Marconi 36, Novi Ligure",
            "opening_hours": {"tue": [["08:00", "19:00"]]}})).json()
        desk = (await desks.post(f"/v1/spaces/{space['id']}/resources", headers=STAFF, json={
            "name": "Hot desk 1", "kind": "hot_desk", "price_per_hour_cents": 300})).json()

        async def booked():  # type: ignore[no-untyped-def]
            response = await desks.post("/v1/bookings", headers=me, json={
                "member_id": member_id, "resource_id": desk["id"],
                "start": "2027-03-02T09:00:00+01:00", "end": "2027-03-02T11:00:00+01:00"})
            return response if response.status_code == 201 else None

        await eventually(booked)

        async def mailed_and_hooked():  # type: ignore[no-untyped-def]
            mails = [m for m in mailbox.messages if address in str(m["To"])]
            return (receiver.requests and failing.requests and mails) or None

        await eventually(mailed_and_hooked)

        # A contact card of theirs the consumers refuse (a language nobody speaks): it goes to
        # notifications' DLQ, holding the member's key.
        card = ev.ContactCard(member_id=member_id, full_name=name, email=address, phone=phone,
                              language="en")
        headers = [(k, v) for k, v in _envelope_headers(card)]
        poison = card.model_dump_json().replace('"en"', '"xx"').encode()
        producer = ResilientProducer(lambda: reliable_producer(infra.kafka_bootstrap,
                                                               client_id="test-poison"))
        try:
            await producer.send_and_wait(topic_prefix + topics.MEMBERSHIP_CONTACTS,
                                         key=member_id.encode(), value=poison, headers=headers)
        finally:
            await producer.stop()

        async def dead_lettered():  # type: ignore[no-untyped-def]
            return await read_log(infra.kafka_bootstrap,
                                  topic_prefix + topics.dlq_topic("notifications")) or None

        [letter] = await eventually(dead_lettered)
        assert letter.key == member_id.encode()
        # Their next card (a new phone) is parked behind the dead letter, in notifications'
        # database.
        changed = await people.patch(f"/v1/members/{member_id}", headers=me,
                                     json={"phone": new_phone})
        assert changed.status_code == 200, changed.text
        parked = await asyncpg.connect(dsns["notifications"])
        try:
            async def card_parked():  # type: ignore[no-untyped-def]
                return await parked.fetchval("SELECT count(*) FROM parked_records") or None

            await eventually(card_parked)
        finally:
            await parked.close()
        # The scan sees the member while they are there: in membership's tables, in the
        # contacts topic (the card and the refused one).
        assert await _hits_in_databases(dsns, needles)
        assert await _hits_in_topics(infra.kafka_bootstrap, topic_prefix, needles)

        erased = await people.delete(f"/v1/members/{member_id}", headers=STAFF)
        assert erased.status_code == 204, erased.text

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
    assert "event dead-lettered" in written, "the logs were read"
    log_hits = _hits_in_text(written, needles)
    assert topic_hits == [], "Kafka keeps the member's data"
    assert log_hits == [], "the logs quote the member"
    assert db_hits == [], "a database keeps the member's data"


def _envelope_headers(card: ev.ContactCard) -> list[tuple[str, bytes]]:
    from cowork.shared.events import Envelope

    return Envelope.wrap(card, source="/cowork/membership").kafka_headers()


async def test_the_scan_finds_a_member_however_a_service_stores_them(  # type: ignore[no-untyped-def]
        infra, new_database, topic_prefix) -> None:
    """The scan above must not be blind to a form a service could write: a name with
    accents (most of the town's), JSON-escaped (`json.dumps`, structlog's lines), in a bytea
    (UTF-8, or gzipped), in a materialized view, in a large object, upper-cased in a record's
    value or a header."""
    unique = uuid4().hex[:8]
    forms = {f"{kind}-{unique}": f"Zelinda Èrasmì-{kind}-{unique}"
             for kind in ("json", "bytea", "gzip", "view", "lo", "value", "header", "log")}
    dsn = await new_database()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE TABLE notes (doc json, raw bytea, packed bytea)")
        await conn.execute("INSERT INTO notes VALUES ($1::json, $2, $3)",
                           json.dumps({"name": forms[f"json-{unique}"]}),
                           forms[f"bytea-{unique}"].encode(),
                           gzip.compress(forms[f"gzip-{unique}"].encode()))
        await conn.execute("CREATE TABLE gone (name text)")
        await conn.execute("INSERT INTO gone VALUES ($1)", forms[f"view-{unique}"])
        await conn.execute("CREATE MATERIALIZED VIEW kept AS SELECT name FROM gone")
        await conn.execute("DELETE FROM gone")
        await conn.execute("SELECT lo_from_bytea(0, $1)", forms[f"lo-{unique}"].encode())
    finally:
        await conn.close()
    topic = f"{topic_prefix}scan.check"
    admin = AIOKafkaAdminClient(bootstrap_servers=infra.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = ResilientProducer(lambda: AIOKafkaProducer(
        bootstrap_servers=infra.kafka_bootstrap, compression_type="gzip"))
    try:
        await producer.send_and_wait(topic, key=b"k",
                                     value=forms[f"value-{unique}"].upper().encode())
        await producer.send_and_wait(topic, key=b"k", value=b"{}", headers=[
            ("note", forms[f"header-{unique}"].encode())])
    finally:
        await producer.stop()
    log_line = json.dumps({"event": "a line", "name": forms[f"log-{unique}"]})

    needles = list(forms.values())
    found = (await _hits_in_databases({"test": dsn}, needles)
             + await _hits_in_topics(infra.kafka_bootstrap, topic_prefix, needles)
             + [f"log has {n!r}" for n in _hits_in_text(log_line, needles)])
    missed = [n for n in needles if not any(repr(n) in hit for hit in found)]
    assert missed == [], "the scan is blind to these forms"
