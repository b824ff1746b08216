"""The rules of a public meeting's seats, pure: who gets a seat, who waits, who is promoted,
when registration is open. The store keeps the counts; these decide."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

# No 0/O, 1/I/L: read aloud at the door or typed from a phone without doubt.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# The reminder goes this long before the start ("the day before").
REMINDER_BEFORE = timedelta(days=1)

HOLDING = ("pending_confirmation", "confirmed")
ACTIVE = ("pending_confirmation", "confirmed", "waitlisted")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> bytes:
    """What the database keeps of a mailed link: a leaked table opens no registration."""
    return hashlib.sha256(token.encode()).digest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(code: str) -> str:
    """What staff type at the door: case and spaces do not matter."""
    return code.replace(" ", "").replace("-", "").upper()


def seat_status(capacity: int, held: int) -> str:
    """A new registration's status: a seat while one is free, else the waiting list."""
    return "pending_confirmation" if held < capacity else "waitlisted"


def promoted_status(address_confirmed: bool) -> str:
    """A promoted registration whose address was already confirmed needs nothing more; any
    other must confirm within a new hold."""
    return "confirmed" if address_confirmed else "pending_confirmation"


def registration_refusal(now: datetime, *, status: str, starts_at: datetime,
                         opens: datetime | None, closes: datetime | None) -> str | None:
    """Why a registration cannot be taken now (an error code), or None. Without a window,
    registration is open from publication until the start."""
    if status != "published":
        return "meeting_not_open"
    if opens is not None and now < opens:
        return "registration_not_open_yet"
    if now >= (closes or starts_at) or now >= starts_at:
        return "registration_closed"
    return None


def window_problem(starts_at: datetime, ends_at: datetime, opens: datetime | None,
                   closes: datetime | None) -> tuple[str, str] | None:
    """(field, reason) when the meeting's times do not make sense, else None."""
    if ends_at <= starts_at:
        return "end", "must be after start"
    if ends_at - starts_at > timedelta(days=7):
        return "end", "a meeting lasts at most 7 days"
    if opens is not None and opens >= starts_at:
        return "registration_opens", "must be before start"
    if closes is not None and closes > starts_at:
        return "registration_closes", "must not be after start"
    if opens is not None and closes is not None and closes <= opens:
        return "registration_closes", "must be after registration_opens"
    return None


@dataclass
class SeatBook:
    """A meeting's seats in memory, the same rules the commands apply to the rows: the model
    the property tests check (never more held than capacity; nobody waits while a seat is
    free; the waiting list is served in order)."""

    capacity: int
    holding: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)

    def register(self, who: int) -> tuple[str, int | None]:
        if seat_status(self.capacity, len(self.holding)) == "waitlisted":
            self.waiting.append(who)
            return "waitlisted", len(self.waiting)
        self.holding.append(who)
        return "pending_confirmation", None

    def cancel(self, who: int) -> list[int]:
        """Frees `who`'s place; returns whoever was promoted."""
        if who in self.waiting:
            self.waiting.remove(who)
            return []
        if who in self.holding:
            self.holding.remove(who)
        return self.fill()

    def resize(self, capacity: int) -> list[int]:
        if capacity < len(self.holding):
            raise ValueError("capacity below the seats held")
        self.capacity = capacity
        return self.fill()

    def fill(self) -> list[int]:
        promoted = []
        while self.waiting and len(self.holding) < self.capacity:
            first = self.waiting.pop(0)
            self.holding.append(first)
            promoted.append(first)
        return promoted
