"""The mail half of the dispatcher: a claimed e-mail delivery rendered in its recipient's
language (with its .ics for bookings) and handed to SMTP, and what a failure may say. The
dispatcher (`dispatcher`) claims, bounds, retries and settles; this only sends one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import aiosmtplib
import asyncpg

from cowork.notifications import community, domain, mail, store
from cowork.notifications.rendering import Renderer, place_of
from cowork.shared.scheduler import Clock


@dataclass(frozen=True)
class MailSettings:
    server: mail.SmtpServer
    sender: str
    officers_email: str
    officers_language: str
    message_id_domain: str
    timezone: str
    location: str


class RetryLater(Exception):
    """The attempt failed in a way that may pass (a timeout, a 5xx, no contact card yet)."""


class Cancel(Exception):
    """The delivery must not happen any more (recipient erased, subscription removed)."""


class MailSender:
    def __init__(self, pool: asyncpg.Pool, settings: MailSettings, renderer: Renderer,
                 clock: Clock) -> None:
        self._pool = pool
        self._settings = settings
        self._renderer = renderer
        self._clock = clock
        self._smtp = mail.SmtpConnections(settings.server)

    async def close(self) -> None:
        await self._smtp.close()

    async def send(self, row: asyncpg.Record, payload: dict[str, Any]) -> None:
        """Render and hand to SMTP the claimed mail `row` (raises `Cancel`, `RetryLater`,
        `mail.PermanentMailError` or what the connection raises)."""
        registrant = domain.from_community(row["cause_event_type"])
        if row["recipient_ref"] == domain.OFFICERS:
            address, name, language = (self._settings.officers_email, "",
                                       self._settings.officers_language)
        else:
            if row["email"] is None:
                await self._no_card_yet(row, registrant)
            address, name, language = row["email"], row["full_name"], row["language"]
        if registrant:
            context = community.mail_context(row, payload)
        else:
            context = {"e": payload, "name": name, "place": place_of(payload, language)}
        rendered = self._renderer.render(row["template"], language, context)
        now = self._clock()
        message = mail.build_message(
            rendered=rendered, sender=self._settings.sender, to=address, delivery=row["id"],
            message_id_domain=self._settings.message_id_domain, now=now,
            calendar=self._calendar(row, payload, context["place"], now))
        if row["recipient_ref"] != domain.OFFICERS:
            # The erasure may have come since the claim read the address: asked last thing.
            async with self._pool.acquire() as conn:
                if not await store.still_to_send(conn, row["id"]):
                    raise Cancel("recipient erased")
        await self._smtp.send(message)

    async def _no_card_yet(self, row: asyncpg.Record, registrant: bool) -> None:
        """No address for the recipient: gone for good (erased, tombstoned), or not yet here."""
        recipient = UUID(row["recipient_ref"])
        async with self._pool.acquire() as conn:
            if registrant:
                gone = await community.is_forgotten(conn, recipient)
            else:
                gone = await store.is_erased(conn, recipient)
        if gone:
            raise Cancel(community.FORGOTTEN if registrant else "recipient erased")
        raise RetryLater("no contact card for the recipient yet")

    def _calendar(self, row: asyncpg.Record, payload: dict[str, Any], place: str,
                  now: datetime) -> tuple[bytes, str] | None:
        cancel = row["template"] == "booking_cancelled"
        if row["template"] not in ("booking_confirmed", "booking_cancelled"):
            return None
        if not payload.get("start") or not payload.get("end"):
            return None
        data = mail.booking_calendar(
            booking_id=row["subject_ref"], start=datetime.fromisoformat(payload["start"]),
            end=datetime.fromisoformat(payload["end"]), summary=place,
            location=self._settings.location, timezone=self._settings.timezone, cancel=cancel,
            stamp=now)
        return data, "CANCEL" if cancel else "PUBLISH"


_ADDRESS = re.compile(r"[^\s<>\"'@,;:]+@[^\s<>\"',;:]+")


def describe_failure(exc: BaseException) -> str:
    """What goes into the log and `last_error` (which staff read): never an address. SMTP
    errors are reduced to their codes, since servers quote the recipient in their text."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        text = "recipient refused: " + ", ".join(str(e.code) for e in exc.recipients)
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code}"
    elif isinstance(exc, TimeoutError):
        text = "timed out"
    else:
        text = _ADDRESS.sub("<address>", str(exc)) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:500]
