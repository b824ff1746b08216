"""Registrations: taken without an account, confirmed and cancelled by the mailed links,
checked in at the door by code, erased on request. Plain arguments, so the public pages call
these without HTTP; each runs in the caller's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.community.commands.common import (
    SOURCE,
    Refused,
    contact_card,
    emit,
    links,
    remove_contact,
)
from cowork.community.commands.seats import (
    FORGET_JOB,
    HOLD_JOB,
    end_registration,
)
from cowork.community.domain.interest import normalised_email
from cowork.community.domain.meetings import (
    new_code,
    new_token,
    normal_code,
    registration_refusal,
    seat_status,
    token_digest,
)
from cowork.community.store import meetings as store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.http import NotFound
from cowork.shared.outbox import erase_payloads, outbox_values

_REFUSALS = {
    "meeting_not_open": "this meeting takes no registrations (cancelled or closed)",
    "registration_not_open_yet": "registration for this meeting has not opened yet",
    "registration_closed": "registration for this meeting has closed",
}


# The hold given to whoever an erasure promotes: the erasure is called without the service's
# settings (by the erasure requests), so it uses the settings' default.
ERASURE_PROMOTION_HOLD = timedelta(hours=48)

# Anyone may type someone else's address, and each registration mails it: an address that has
# confirmed none of its recent registrations gets at most this many a week (a mail cannon
# aimed through every meeting, waiting list and expired hold is capped here).
MAX_UNCONFIRMED_PER_ADDRESS = 3
UNCONFIRMED_WINDOW = timedelta(days=7)
_LAST_SEQ = 2**62  # beyond every waiting-list number: counts the whole list


@dataclass(frozen=True)
class Registrant:
    full_name: str
    email: str
    language: str = "it"
    profile: dict[str, Any] | None = None


async def _locked_meeting(conn: asyncpg.Connection, meeting_id: UUID) -> asyncpg.Record:
    meeting = await store.meeting_by_id(conn, meeting_id, for_update=True)
    if meeting is None:
        raise NotFound("meeting", meeting_id)
    return meeting


def _answer(registration_id: UUID, status: str, waiting: int) -> dict[str, Any]:
    """What the registrant is told: the same shape for a new and a repeated request."""
    if status == "waitlisted":
        return {"id": str(registration_id), "status": "waitlisted", "position": waiting + 1}
    return {"id": str(registration_id), "status": "pending_confirmation", "position": None}


async def _repeated_answer(conn: asyncpg.Connection, meeting: asyncpg.Record,
                           registration_id: UUID) -> dict[str, Any]:
    """The answer a new address would get now (its own seat or place is in its mail): on a
    full meeting a known address answered with a held seat would tell a stranger it is
    registered. A confirmed seat shows as held, as a new request's would."""
    status = seat_status(meeting["capacity"], meeting["seats_held"])
    waiting = 0 if status != "waitlisted" else \
        await store.waitlist_position(conn, meeting["id"], _LAST_SEQ)
    return _answer(registration_id, status, waiting)


def _check_open(meeting: asyncpg.Record, now: datetime, is_member: bool) -> None:
    refusal = registration_refusal(now, status=meeting["status"], starts_at=meeting["starts_at"],
                                   opens=meeting["registration_opens"],
                                   closes=meeting["registration_closes"])
    if refusal is not None:
        raise Refused(refusal, _REFUSALS[refusal])
    if meeting["open_to"] == "members" and not is_member:
        raise Refused("members_only", "this meeting is open to members only: sign in as a "
                      "member", status=403)


@dataclass(frozen=True)
class _Draft:
    """A registration drawn (code, tokens, digests) and its events rendered (the card from the
    meeting as read): everything that needs no lock, done before the meeting's is taken."""
    row: dict[str, Any]
    card: list[Any]
    requested: dict[str, list[Any]]  # the event's outbox values, by the status it gets
    meeting_updated_at: datetime

    @classmethod
    def new(cls, meeting: asyncpg.Record, who: Registrant, email: str, now: datetime,
            public_base_url: str) -> _Draft:
        confirm_token, cancel_token = new_token(), new_token()
        row = {"id": uuid4(), "meeting_id": meeting["id"], "full_name": who.full_name,
               "email": email, "language": who.language, "profile": who.profile,
               "code": new_code(), "confirm_digest": token_digest(confirm_token),
               "cancel_digest": token_digest(cancel_token), "requested_at": now}
        card = contact_card(row, meeting, links(public_base_url, confirm_token, cancel_token))
        requested = {status: outbox_values(ev.RegistrationRequested(
            registration_id=row["id"], meeting_id=meeting["id"],
            status=status), source=SOURCE)[1]
            for status in ("pending_confirmation", "waitlisted")}
        return cls(row, outbox_values(card, source=SOURCE)[1], requested, meeting["updated_at"])

    def with_status(self, status: str, now: datetime, hold: timedelta) -> dict[str, Any]:
        holds = status == "pending_confirmation"
        return {**self.row, "status": status, "holds_seat": holds,
                "hold_until": now + hold if holds else None}


async def register(conn: asyncpg.Connection, meeting_id: UUID, who: Registrant, *,
                   is_member: bool, now: datetime, hold: timedelta,
                   public_base_url: str) -> dict[str, Any]:
    """A seat held from now (or a place on the waiting list): {id, status, position}. The
    address's lock first, then the meeting row's, so the address's cap and the count of seats
    held are exact under any concurrency; every registration queues on the meeting's lock, so
    what needs none is done before it, and what needs it is one statement."""
    # Kept as the erasure looks it up: PostgreSQL's lower() (C locale) leaves É as it is, so an
    # address with accented capitals would be two seats and out of an erasure's reach.
    email = normalised_email(who.email)
    await store.lock_address(conn, email)
    seen = await store.before_registration(conn, meeting_id, email, now - UNCONFIRMED_WINDOW)
    if seen is None:
        raise NotFound("meeting", meeting_id)
    _check_open(seen, now, is_member)
    if seen["live_registration"] is not None:
        return await _repeated_answer(conn, seen, seen["live_registration"])
    if seen["unconfirmed"] >= MAX_UNCONFIRMED_PER_ADDRESS:
        raise Refused("too_many_unconfirmed", "this address has registrations it has not "
                      "confirmed yet: confirm them from their mails first", status=429,
                      field="email")
    draft = _Draft.new(seen, who, email, now, public_base_url)
    meeting = await _locked_meeting(conn, meeting_id)
    _check_open(meeting, now, is_member)  # it may have changed while this one waited
    status = seat_status(meeting["capacity"], meeting["seats_held"])
    while True:
        if draft.meeting_updated_at != meeting["updated_at"]:  # the card tells the new one
            draft = _Draft.new(meeting, who, email, now, public_base_url)
        written = await store.insert_registration(
            conn, draft.with_status(status, now, hold), HOLD_JOB, draft.requested[status],
            draft.card)
        if written is not None:
            return _answer(written["id"], status, written["waiting"])
        existing = await store.live_registration_for_email(conn, meeting_id, email)
        if existing is not None:
            return await _repeated_answer(conn, meeting, existing["id"])
        # 31^8 codes: one drawn twice (or a digest) is rare, but the door must never see two
        # alike: draw again.
        draft = _Draft.new(meeting, who, email, now, public_base_url)


async def _by_token(conn: asyncpg.Connection, column: str, token: str
                    ) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The meeting (locked) and the registration (locked) a mailed link acts on."""
    found = await store.registration_by_digest(conn, column, token_digest(token))
    if found is None or found["erased_at"] is not None:
        raise Refused("unknown_link", "this link is not valid (mistyped, or the registration "
                      "was erased)", status=404, field="token")
    meeting = await _locked_meeting(conn, found["meeting_id"])
    registration = await store.registration_by_id(conn, found["id"], for_update=True)
    assert registration is not None
    return meeting, registration


def link_answer(meeting: asyncpg.Record, r: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(r["id"]), "meeting_id": str(meeting["id"]), "status": r["status"],
            "address_confirmed": r["address_confirmed"], "code": r["code"],
            "meeting_title": meeting["title_it"], "meeting_start": meeting["starts_at"]}


async def confirm(conn: asyncpg.Connection, token: str, now: datetime) -> dict[str, Any]:
    """The mail's confirm link: a held seat becomes `confirmed`; a waiting registration stays
    waiting with its address confirmed (promoted later straight to confirmed). Twice is fine."""
    meeting, r = await _by_token(conn, "confirm_digest", token)
    if r["status"] == "cancelled":
        raise Refused("registration_cancelled", "this registration was cancelled")
    if r["status"] == "pending_confirmation":
        r = await store.set_registration(conn, r["id"], status="confirmed",
                                         address_confirmed=True, confirmed_at=now,
                                         hold_until=None)
        await scheduler.cancel(conn, HOLD_JOB, str(r["id"]))
        await emit(conn, ev.RegistrationConfirmed(registration_id=r["id"],
                                                  meeting_id=meeting["id"], at=now))
    elif not r["address_confirmed"]:
        r = await store.set_registration(conn, r["id"], address_confirmed=True)
    return link_answer(meeting, r)


async def cancel(conn: asyncpg.Connection, token: str, now: datetime,
                 hold: timedelta) -> dict[str, Any]:
    """The mail's cancel link: the seat is freed and goes to the first who waits. Twice is
    fine."""
    meeting, r = await _by_token(conn, "cancel_digest", token)
    await end_registration(conn, meeting, r, by="registrant", now=now, hold=hold)
    ended = await store.registration_by_id(conn, r["id"])
    assert ended is not None
    return link_answer(meeting, ended)


async def check_in(conn: asyncpg.Connection, meeting_id: UUID, code: str,
                   now: datetime) -> asyncpg.Record:
    meeting = await _locked_meeting(conn, meeting_id)
    # After the minutes the attendance is published: a late check-in would contradict it.
    if meeting["status"] != "published":
        raise Refused("meeting_not_open", "this meeting is cancelled or closed", field="code")
    r = await store.registration_by_code(conn, meeting_id, normal_code(code))
    if r is None:
        raise Refused("unknown_code", "no registration with this code for this meeting",
                      status=404, field="code")
    if r["checked_in_at"] is not None:
        raise Refused("already_checked_in", "this registration was already checked in",
                      field="code")
    if r["status"] != "confirmed":
        raise Refused("not_confirmed", "only a confirmed registration can be checked in",
                      field="code")
    r = await store.set_registration(conn, r["id"], checked_in_at=now)
    await emit(conn, ev.RegistrationCheckedIn(registration_id=r["id"], meeting_id=meeting["id"],
                                              at=now))
    return r


async def erase_registrations_for_email(conn: asyncpg.Connection, email: str,
                                        now: datetime) -> int:
    """GDPR erasure of every registration under `email` (any case): each is cancelled (its seat
    freed, the next promoted), its name and address nulled, its contact tombstoned. Returns
    how many registrations were erased."""
    erased = 0
    for found in await store.registration_ids_for_email(conn, email):
        meeting = await _locked_meeting(conn, found["meeting_id"])
        r = await store.registration_by_id(conn, found["id"], for_update=True)
        assert r is not None
        # A past meeting's seats are history: nobody is promoted into it.
        promote_hold = ERASURE_PROMOTION_HOLD if meeting["status"] == "published" else None
        await end_registration(conn, meeting, r, by="erased", now=now, hold=promote_hold)
        fresh = await store.registration_by_id(conn, r["id"])
        assert fresh is not None
        # At once, even a card kept a day for a mailed cancellation: an erasure does not wait.
        await remove_contact(conn, fresh, now)
        await scheduler.cancel(conn, FORGET_JOB, str(r["id"]))
        # The card may still wait in the outbox: it leaves as a tombstone, never with the data.
        await erase_payloads(conn, topic=topics.COMMUNITY_CONTACTS, key=str(r["id"]))
        await store.set_registration(conn, r["id"], full_name=None, email=None, profile=None,
                                     erased_at=now)
        erased += 1
    return erased
