"""Request and response bodies of meetings and registrations, bounded at the edge: every
string's length, no NUL or control characters, capacity 1..10000, dates in range."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, EmailStr, Field, field_validator, model_validator

from cowork.shared.api import (
    ONE_LINE_PATTERN,
    ApiDateTime,
    LongText,
    Representation,
    Strict,
    Text,
)

Capacity = Annotated[int, Field(ge=1, le=10_000)]
Description = Annotated[LongText, Field(max_length=5000)]
Minutes = Annotated[LongText, Field(max_length=20_000)]
Address = Annotated[Text, Field(max_length=300)]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]


def _short_email(value: str) -> str:
    if len(value) > 254:
        raise ValueError("an e-mail address has at most 254 characters")
    return value


Email = Annotated[EmailStr, Field(json_schema_extra={"pattern": ONE_LINE_PATTERN}),
                  AfterValidator(_short_email)]


class Localised(Strict):
    it: Text
    en: Text | None = None


class LocalisedLong(Strict):
    it: Description
    en: Description | None = None


class NewMeeting(Strict):
    title: Localised
    description: LocalisedLong
    space_id: UUID | None = None
    address: Address | None = None
    start: ApiDateTime
    end: ApiDateTime
    capacity: Capacity
    registration_opens: ApiDateTime | None = None
    registration_closes: ApiDateTime | None = None
    open_to: Literal["everyone", "members"] = "everyone"

    @model_validator(mode="after")
    def _somewhere(self) -> "NewMeeting":
        if self.space_id is None and self.address is None:
            raise ValueError("a meeting needs a space_id or an address")
        return self


class MeetingChanges(Strict):
    """Any field of creation; absent fields stay as they are."""

    title: Localised = Field(default=None)
    description: LocalisedLong = Field(default=None)
    space_id: UUID | None = None
    address: Address | None = None
    start: ApiDateTime = Field(default=None)
    end: ApiDateTime = Field(default=None)
    capacity: Capacity = Field(default=None)
    registration_opens: ApiDateTime | None = None
    registration_closes: ApiDateTime | None = None
    open_to: Literal["everyone", "members"] = Field(default=None)


def meeting_columns(body: NewMeeting | MeetingChanges) -> dict[str, Any]:
    """The body as the store's columns (only the fields sent, for a change)."""
    sent = body.model_fields_set
    columns: dict[str, Any] = {}
    if "title" in sent and body.title is not None:
        columns |= {"title_it": body.title.it, "title_en": body.title.en}
    if "description" in sent and body.description is not None:
        columns |= {"description_it": body.description.it,
                    "description_en": body.description.en}
    renamed = {"start": "starts_at", "end": "ends_at"}
    for name in ("space_id", "address", "start", "end", "capacity", "registration_opens",
                 "registration_closes", "open_to"):
        if name in sent or isinstance(body, NewMeeting):
            columns[renamed.get(name, name)] = getattr(body, name)
    return columns


class Consents(Strict):
    privacy: bool

    @field_validator("privacy")
    @classmethod
    def _required(cls, privacy: bool) -> bool:
        if not privacy:
            raise ValueError("the privacy consent is required to register")
        return privacy


class Profile(Strict):
    who: Literal["citizen", "professional", "partita_iva", "association", "company"]
    residence_istat: Istat | None = None


class NewRegistration(Strict):
    full_name: Text
    email: Email
    consents: Consents
    language: Literal["it", "en"] = "it"
    profile: Profile | None = None


class CheckIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9 -]+$")]


class NewMinutes(Strict):
    text: Minutes
    attendance: Annotated[int, Field(ge=0, le=100_000)]


class MeetingView(Representation):
    id: UUID
    title: dict[str, str | None]
    description: dict[str, str | None]
    space_id: UUID | None
    address: str | None
    start: str
    end: str
    capacity: int
    seats_left: int
    open_to: str
    status: Literal["published", "cancelled", "closed"]


class RegistrationAnswer(Representation):
    id: UUID
    status: Literal["pending_confirmation", "waitlisted"]
    position: int | None = None


class LinkAnswer(Representation):
    id: UUID
    meeting_id: UUID
    status: Literal["pending_confirmation", "confirmed", "waitlisted", "cancelled"]
    address_confirmed: bool
    code: str


class RegistrationView(Representation):
    id: UUID
    meeting_id: UUID
    status: str
    position: int | None
    full_name: str | None
    email: str | None
    code: str
    checked_in_at: str | None
