"""Dates and times as a citizen of the town reads them: in Europe/Rome whatever the server's
zone, with the weekday and month spelt out in the page's language (no locale is installed on
the server, so the names are here)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

TOWN = ZoneInfo("Europe/Rome")
DASH = "\u2013"  # the en dash of a range, as typeset

_WEEKDAYS = {"it": ("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
             "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")}
_MONTHS = {"it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
                  "agosto", "settembre", "ottobre", "novembre", "dicembre"),
           "en": ("January", "February", "March", "April", "May", "June", "July", "August",
                  "September", "October", "November", "December")}


def day(moment: datetime, lang: str) -> str:
    local = moment.astimezone(TOWN)
    return (f"{_WEEKDAYS[lang][local.weekday()]} {local.day} {_MONTHS[lang][local.month - 1]} "
            f"{local.year}")


def span(start: datetime, end: datetime, lang: str) -> str:
    """`giovedì 12 marzo 2027, 18:00-20:00` with an en dash (both days spelt out when it
    runs past midnight)."""
    first, last = start.astimezone(TOWN), end.astimezone(TOWN)
    if first.date() == last.date():
        return f"{day(first, lang)}, {first:%H:%M}{DASH}{last:%H:%M}"
    return f"{day(first, lang)}, {first:%H:%M} {DASH} {day(last, lang)}, {last:%H:%M}"


def iso_local(moment: datetime) -> str:
    """For `<time datetime>`: the instant with the town's offset."""
    return moment.astimezone(TOWN).isoformat(timespec="minutes")
