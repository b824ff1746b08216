"""What the meeting commands share: the outbox source, refusals, the views and the events built
from rows, and the contact card (the only place a registrant's address travels)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import asyncpg

from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.http import ApiError
from cowork.shared.outbox import add_event, add_tombstone

SOURCE = "/cowork/community"


class Refused(ApiError):
    """A rule said no (409 unless told): what the API answers and what a page shows."""

    def __init__(self, code: str, message: str, *, status: int = 409,
                 field: str | None = None) -> None:
        super().__init__(status, code, message, field=field)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def place_of(m: asyncpg.Record) -> str:
    return m["address"] or f"space {m['space_id']}"


def meeting_view(m: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(m["id"]),
        "title": {"it": m["title_it"], "en": m["title_en"]},
        "description": {"it": m["description_it"], "en": m["description_en"]},
        "space_id": str(m["space_id"]) if m["space_id"] else None, "address": m["address"],
        "start": _iso(m["starts_at"]), "end": _iso(m["ends_at"]), "capacity": m["capacity"],
        "seats_left": m["capacity"] - m["seats_held"] if m["status"] == "published" else 0,
        "registration_opens": _iso(m["registration_opens"]),
        "registration_closes": _iso(m["registration_closes"]), "open_to": m["open_to"],
        "status": m["status"], "minutes": {"it": m["minutes_it"]} if m["minutes_it"] else None,
        "attendance": m["attendance"], "created_at": _iso(m["created_at"]),
        "updated_at": _iso(m["updated_at"]),
    }


def registration_view(r: asyncpg.Record, position: int | None = None) -> dict[str, Any]:
    """For staff: who is registered (personal data: never logged)."""
    return {"id": str(r["id"]), "meeting_id": str(r["meeting_id"]), "status": r["status"],
            "position": position, "full_name": r["full_name"], "email": r["email"],
            "language": r["language"], "code": r["code"], "profile": r["profile"],
            "address_confirmed": r["address_confirmed"],
            "requested_at": _iso(r["requested_at"]), "hold_until": _iso(r["hold_until"]),
            "confirmed_at": _iso(r["confirmed_at"]), "cancelled_at": _iso(r["cancelled_at"]),
            "cancelled_by": r["cancelled_by"], "checked_in_at": _iso(r["checked_in_at"])}


def meeting_event(kind: type[ev.MeetingPublished] | type[ev.MeetingUpdated]
                  | type[ev.MeetingCancelled], m: asyncpg.Record) -> ev.DomainEvent:
    return kind(meeting_id=m["id"], title=m["title_it"], start=m["starts_at"],
                end=m["ends_at"], space_id=m["space_id"], capacity=m["capacity"])


async def emit(conn: asyncpg.Connection, event: ev.DomainEvent) -> None:
    await add_event(conn, event, source=SOURCE)


def links(public_base_url: str, confirm_token: str, cancel_token: str) -> dict[str, str]:
    """The personal links the mail carries: pages (served by the public pages), not API
    endpoints, so a click in a mail client shows something a person can read."""
    base = public_base_url.rstrip("/")
    return {"confirm": f"{base}/registrations/confirm?token={quote(confirm_token)}",
            "cancel": f"{base}/registrations/cancel?token={quote(cancel_token)}"}


def contact_card(r: Mapping[str, Any], m: asyncpg.Record,
                 card_links: dict[str, str]) -> ev.CommunityContact:
    """The card of registration `r` (a row, or the values about to be one) for meeting `m`."""
    return ev.CommunityContact(
        registration_id=r["id"], full_name=r["full_name"], email=r["email"],
        language=r["language"], code=r["code"], meeting_title=m["title_it"],
        meeting_start=m["starts_at"], meeting_place=place_of(m), links=card_links)


async def remove_contact(conn: asyncpg.Connection, r: asyncpg.Record, now: datetime) -> None:
    """The tombstone: the contacts topic forgets the address (once per registration)."""
    if r["contact_removed_at"] is not None:
        return
    await add_tombstone(conn, topic=topics.COMMUNITY_CONTACTS, key=str(r["id"]),
                        event_type=ev.CommunityContact.event_type, source=SOURCE)
    await conn.execute("UPDATE meeting_registrations SET contact_removed_at = $2 WHERE id = $1",
                       r["id"], now)
