"""E-mail templates: Jinja2, one file per template and language, `templates/<lang>/<name>.j2`,
each with three blocks — `subject`, `text` (plain-text part) and `html` (HTML part).

The HTML part is rendered by an autoescaping environment, the subject and the text part by one
that does not escape (they are not HTML); both read the same file. An operator overrides a
template by putting a file with the same relative path in `NOTIFICATIONS_TEMPLATES_DIR`,
which is searched before the built-in templates (docs/notifications.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup

from cowork.notifications import domain

BUILT_IN = Path(__file__).parent / "templates"

_MONTHS = {
    "it": ["gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
           "settembre", "ottobre", "novembre", "dicembre"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}
_WEEKDAYS = {
    "it": ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class Renderer:
    def __init__(self, override_dir: Path | None = None, timezone: str = "Europe/Rome") -> None:
        folders = [str(p) for p in (override_dir, BUILT_IN) if p is not None]
        loader = ChoiceLoader([FileSystemLoader(f) for f in folders])
        common: dict[str, Any] = {"loader": loader, "undefined": StrictUndefined,
                                  "trim_blocks": True, "lstrip_blocks": True}
        self._text = Environment(autoescape=False, **common)  # noqa: S701 - not HTML
        self._html = Environment(autoescape=True, **common)
        self._zone = ZoneInfo(timezone)

    def render(self, template: str, language: str, context: dict[str, Any]) -> RenderedMail:
        language = language if language in domain.LANGUAGES else domain.DEFAULT_LANGUAGE
        name = f"{language}/{template}.j2"
        values = {**context, "lang": language}
        text_template = self._text.get_template(name, globals=self._helpers(language))
        html_template = self._html.get_template(name, globals=self._helpers(language))
        subject = _one_line(_block(text_template, "subject", values))
        text = _block(text_template, "text", values).strip() + "\n"
        body = _block(html_template, "html", values).strip()
        html = (f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">'
                f"<title>{Markup.escape(subject)}</title></head>\n<body>\n{body}\n</body></html>\n")
        return RenderedMail(subject, text, html)

    def _helpers(self, language: str) -> dict[str, Any]:
        zone = self._zone

        def money(cents: int) -> str:
            return domain.money(int(cents), language)

        def when(value: datetime | str) -> str:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            local = moment.astimezone(zone)
            day = _WEEKDAYS[language][local.weekday()]
            month = _MONTHS[language][local.month - 1]
            return f"{day} {local.day} {month} {local.year}, {local:%H:%M}"

        def hour(value: datetime | str) -> str:
            moment = datetime.fromisoformat(value) if isinstance(value, str) else value
            return f"{moment.astimezone(zone):%H:%M}"

        def day(value: date | str) -> str:
            d = date.fromisoformat(value) if isinstance(value, str) else value
            return f"{d.day} {_MONTHS[language][d.month - 1]} {d.year}"

        return {"money": money, "when": when, "hour": hour, "day": day}


def _block(template: Template, name: str, values: dict[str, Any]) -> str:
    context = template.new_context(values)
    return "".join(template.blocks[name](context))


def _one_line(text: str) -> str:
    """A subject is one header line: no CR/LF can reach the message's headers."""
    return re.sub(r"\s+", " ", text).strip()


_KINDS = {
    "it": {"hot_desk": "Postazione flessibile", "fixed_desk": "Postazione fissa",
           "meeting_room": "Sala riunioni", "phone_booth": "Cabina telefonica",
           "event_room": "Sala eventi"},
    "en": {"hot_desk": "Hot desk", "fixed_desk": "Fixed desk", "meeting_room": "Meeting room",
           "phone_booth": "Phone booth", "event_room": "Event room"},
}


def place_of(payload: dict[str, Any], language: str) -> str:
    """Where a booking's mail says it is: the resource's name, else its kind in words."""
    if payload.get("resource_name"):
        return str(payload["resource_name"])
    kind = payload.get("resource_kind")
    labels = _KINDS.get(language, _KINDS["it"])
    return labels.get(str(kind), "Cowork") if kind else "Cowork"
