"""E-mail: the MIME message of a delivery (plain text + HTML, an .ics for bookings) and its
sending over SMTP with aiosmtplib."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from typing import Literal
from uuid import UUID
from zoneinfo import ZoneInfo

import aiosmtplib
from icalendar import Calendar, Event, Timezone

from cowork.notifications import domain
from cowork.notifications.rendering import RenderedMail

PRODID = "-//Cowork//notifications//EN"
# Flattened here (aiosmtplib would re-fold every header) with CRLF and no folding of our own:
# the Message-ID goes out on one line, byte for byte as derived. (The subject is already
# encoded and folded by `Header`; every other header is short.)
WIRE = compat32.clone(linesep="\r\n", max_line_length=0)


# How the connection to the SMTP server is encrypted: STARTTLS required (submission, 587),
# TLS from the first byte (465), or none (the local stack's sink only).
SmtpTls = Literal["starttls", "implicit", "none"]


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: SmtpTls = "starttls"
    timeout_seconds: float = 10.0
    ca_file: str | None = None  # the CAs the server's certificate is checked against (PEM)


class PermanentMailError(Exception):
    """The SMTP server refused the message for good (a 5xx reply): retrying cannot help."""


def booking_calendar(*, booking_id: str, start: datetime, end: datetime, summary: str,
                     location: str, timezone: str, cancel: bool, stamp: datetime) -> bytes:
    """An iCalendar object for the booking, in the space's timezone. A cancellation has the
    same UID, METHOD:CANCEL, STATUS:CANCELLED and a higher SEQUENCE, so calendar programs
    remove the event the confirmation added."""
    zone = ZoneInfo(timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if cancel else "PUBLISH")
    event = Event()
    event.add("uid", f"{booking_id}@cowork")
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("dtstart", start.astimezone(zone))
    event.add("dtend", end.astimezone(zone))
    event.add("summary", summary)
    event.add("location", location)
    event.add("sequence", 1 if cancel else 0)
    event.add("status", "CANCELLED" if cancel else "CONFIRMED")
    calendar.add_component(_zone(timezone, start.year))
    calendar.add_component(event)
    return bytes(calendar.to_ical())


@functools.lru_cache(maxsize=32)
def _zone(timezone: str, year: int) -> Timezone:
    """The VTIMEZONE of the booking's year and the next (computing it costs more than the rest
    of the message, and it is the same for every booking of the year); not the zone's whole
    history, which would be ~10 kB of RDATEs."""
    return Timezone.from_tzid(timezone, first_date=date(year, 1, 1),
                              last_date=date(year + 1, 12, 31))


def build_message(*, rendered: RenderedMail, sender: str, to: str, delivery: UUID,
                  message_id_domain: str, now: datetime,
                  calendar: tuple[bytes, str] | None = None) -> MIMEMultipart:
    """multipart/alternative (text, HTML), inside multipart/mixed with the .ics when there is
    one. Built with the `email.mime` classes: three times cheaper than `EmailMessage` with the
    modern policy, which dominated the cost of a notification (bench_notifications.py)."""
    body = MIMEMultipart("alternative")
    body.attach(MIMEText(rendered.text, "plain", "utf-8"))
    body.attach(MIMEText(rendered.html, "html", "utf-8"))
    if calendar is None:
        message = body
    else:
        data, method = calendar
        message = MIMEMultipart("mixed")
        message.attach(body)
        ics = MIMEText(data.decode(), "calendar", "utf-8")
        ics.set_param("method", method)
        ics.add_header("Content-Disposition", "attachment", filename="booking.ics")
        message.attach(ics)
    message["From"] = _address(sender)
    message["To"] = _address(to)
    message["Subject"] = _header(rendered.subject)
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = domain.message_id(delivery, message_id_domain)
    message["Auto-Submitted"] = "auto-generated"
    return message


def _header(text: str) -> str:
    return text if text.isascii() else Header(text, "utf-8").encode()


def _address(value: str) -> str:
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


class SmtpConnections:
    """Sends over SMTP, keeping connections open between messages: a new connection costs a
    TCP handshake, the greeting, EHLO (and STARTTLS and AUTH when configured) and QUIT — more
    than the message itself. A connection idle longer than `max_idle_seconds` is not reused
    (servers drop idle sessions), and one that failed in any way is closed, never reused."""

    def __init__(self, server: SmtpServer, *, max_idle_seconds: float = 10.0) -> None:
        self._server = server
        self._max_idle = max_idle_seconds
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []

    async def send(self, message: MIMEMultipart) -> None:
        """Hand the message to the SMTP server; returns once it accepted it (250 after DATA)."""
        raw = message.as_bytes(policy=WIRE)
        sender = parseaddr(str(message["From"]))[1]
        recipients = [parseaddr(str(message["To"]))[1]]
        client = self._reusable() or await self._connect()
        try:
            await client.sendmail(sender, recipients, raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client.close()
            if all(e.code >= 500 for e in exc.recipients):
                raise PermanentMailError(f"recipient refused: {exc.recipients[0].code}") from exc
            raise
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            if exc.code >= 500:
                # The code only: a server's text often quotes the address.
                raise PermanentMailError(f"refused: {exc.code}") from exc
            raise
        except BaseException:
            client.close()
            raise
        self._idle.append((client, time.monotonic()))

    def _reusable(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and time.monotonic() - since < self._max_idle:
                return client
            client.close()
        return None

    async def _connect(self) -> aiosmtplib.SMTP:
        server = self._server
        # start_tls=True, not aiosmtplib's default None ("if offered"): a server, or someone in
        # between, that does not offer STARTTLS gets no message rather than a plain-text one.
        # The certificate is always verified (against ca_file, else the system's CAs).
        client = aiosmtplib.SMTP(hostname=server.host, port=server.port,
                                 username=server.username, password=server.password,
                                 use_tls=server.tls == "implicit",
                                 start_tls=server.tls == "starttls", validate_certs=True,
                                 cert_bundle=server.ca_file, timeout=server.timeout_seconds)
        await client.connect()
        return client

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                client.close()
