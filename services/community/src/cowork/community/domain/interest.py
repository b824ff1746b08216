"""An expression of interest ("manifestazione di interesse"): what a respondent may choose, and
the rules a form must meet before it is stored. Pure: no I/O."""

from __future__ import annotations

import hashlib
from typing import Literal, get_args

from cowork.shared import registration_limits

Who = Literal["citizen", "professional", "partita_iva", "association", "company"]
# booking's resource kinds: the summary speaks the same language as the space once it opens.
DeskKind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TimeBand = Literal["morning", "afternoon", "evening"]
Frequency = Literal["daily", "weekly", "monthly", "occasional"]

WHO: tuple[str, ...] = get_args(Who)
DESK_KINDS: tuple[str, ...] = get_args(DeskKind)
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
TIME_BANDS: tuple[str, ...] = get_args(TimeBand)
FREQUENCIES: tuple[str, ...] = get_args(Frequency)


def normalised_email(email: str) -> str:
    """The form an address is stored and looked up in: an erasure request typed with other
    capitals must still find it (the domain part is case-insensitive, and in practice so is
    the local part of every mailbox a citizen uses)."""
    return email.strip().lower()


def email_digest(email: str, key: bytes) -> str:
    """HMAC-SHA-256 of the normalised address under the service's key (`CommunitySettings.
    erasure_digest_key`): what counts erasure requests per address without keeping the
    address itself. Keyed, so that a copy of the table cannot be asked whether an address
    made a request (an unkeyed hash of a guessed address would find its row)."""
    return registration_limits.digest(key, "erasure-request", normalised_email(email)).hex()


def token_digest(token: str) -> str:
    """Links' tokens are stored only as this digest: a copy of the database opens no link."""
    return hashlib.sha256(token.encode()).hexdigest()


def duplicates(values: list[str]) -> list[str]:
    """The values chosen more than once (a list of choices is a set a person ticked)."""
    seen: set[str] = set()
    twice = []
    for value in values:
        if value in seen and value not in twice:
            twice.append(value)
        seen.add(value)
    return twice
