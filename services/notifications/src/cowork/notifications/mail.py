"""E-mail: the MIME message of a delivery (plain text + HTML, an .ics for bookings) and its
sending over SMTP with aiosmtplib."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from uuid import UUID
from zoneinfo import ZoneInfo

import aiosmtplib
from icalendar import Calendar, Event

from cowork.notifications import domain
from cowork.notifications.rendering import RenderedMail

PRODID = "-//Cowork//notifications//EN"
# Headers are not folded below RFC 5322's hard limit, so the Message-ID a receiver sees is
# byte for byte the one derived from the delivery key.
MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout_seconds: float = 10.0


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
    calendar.add_component(event)
    # Only the years around the booking: the whole zone history would be ~10 kB of RDATEs.
    calendar.add_missing_timezones(first_date=start.date().replace(month=1, day=1),
                                   last_date=end.date().replace(month=12, day=31))
    return bytes(calendar.to_ical())


def build_message(*, rendered: RenderedMail, sender: str, to: str, delivery: UUID,
                  message_id_domain: str, now: datetime,
                  calendar: tuple[bytes, str] | None = None) -> EmailMessage:
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = domain.message_id(delivery, message_id_domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    if calendar is not None:
        data, method = calendar
        message.add_attachment(data, maintype="text", subtype="calendar",
                               filename="booking.ics", params={"method": method})
    return message


async def send(server: SmtpServer, message: EmailMessage) -> None:
    """Hand the message to the SMTP server; returns once it accepted it (250 after DATA)."""
    # Flattened here rather than by aiosmtplib (which re-flattens with a policy that folds at
    # 78 columns), so the Message-ID header goes out on one line exactly as derived.
    raw = message.as_bytes(policy=MAIL_POLICY)
    sender = parseaddr(str(message["From"]))[1]
    recipients = [parseaddr(str(message["To"]))[1]]
    try:
        await aiosmtplib.send(raw, sender=sender, recipients=recipients,
                              hostname=server.host, port=server.port,
                              username=server.username, password=server.password,
                              start_tls=server.starttls, timeout=server.timeout_seconds)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if all(e.code >= 500 for e in exc.recipients):
            raise PermanentMailError(f"recipient refused: {exc.recipients[0].code}") from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentMailError(f"refused: {exc.code} {exc.message}"[:300]) from exc
        raise

