"""Request and response bodies of the notifications API (docs/api/): webhook subscriptions, the
delivery log, members' preferences."""

# No `from __future__ import annotations`: pydantic and FastAPI read these annotations at runtime.

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from pydantic import AliasChoices, AnyHttpUrl, Field, field_validator

from cowork.notifications import domain
from cowork.notifications.addresses import without_credentials
from cowork.shared.api import Representation, Strict

Status = Literal["pending", "sending", "sent", "dead", "cancelled"]
# The filter also takes `failed`, the word of the `notification.failed` event, for `dead`.
StatusFilter = Literal["pending", "sending", "sent", "dead", "failed", "cancelled"]
Channel = Literal["email", "webhook"]


# ---------------------------------------------------------------- requests


class NewSubscription(Strict):
    url: Annotated[AnyHttpUrl, Field(description=(
        "the URL that receives the POSTs: https (http only in the local stack), no "
        "credentials, not an internal or reserved address"))]
    event_types: Annotated[list[Annotated[str, Field(max_length=200)]],
                           Field(min_length=1, max_length=100,
                                 description="CloudEvents types, or '*' for every type")]

    @field_validator("url")
    @classmethod
    def bounded_url(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        if len(str(url)) > 2000:
            raise ValueError("at most 2000 characters")
        return url

    @field_validator("event_types")
    @classmethod
    def known_types(cls, types: list[str]) -> list[str]:
        allowed = {*domain.WEBHOOK_EVENT_TYPES, domain.ANY_EVENT}
        unknown = [t for t in types if t not in allowed]
        if unknown:
            raise ValueError(f"unknown or not subscribable event type {unknown[0]!r}")
        return sorted(set(types))


class Preferences(Strict):
    # docs/api/ aliases: "PUT /v1/members/{id}/preferences — categories opted out of": a client reading
    # it sends `categories`, one reading the OpenAPI `opted_out`; both mean the same list.
    opted_out: Annotated[list[str], Field(
        max_length=20, validation_alias=AliasChoices("opted_out", "categories"),
        description=("categories the member receives no mail for: "
                     + ", ".join(domain.CATEGORIES) + " (also accepted as `categories`)"))]

    @field_validator("opted_out")
    @classmethod
    def known_categories(cls, categories: list[str]) -> list[str]:
        for category in categories:
            if category == "essential":
                raise ValueError("essential messages (booking confirmations and "
                                 "cancellations, voucher decisions) cannot be opted out of")
            if category not in domain.CATEGORIES:
                raise ValueError(f"unknown category {category[:50]!r}; one of "
                                 + ", ".join(domain.CATEGORIES))
        return sorted(set(categories))


# ---------------------------------------------------------------- responses


class SubscriptionOut(Representation):
    id: UUID
    url: str
    event_types: list[str] = Field(description="CloudEvents types, or '*' for every type")
    active: bool = Field(description="false once deleted: nothing more is delivered to it")
    created_at: datetime


class NewSubscriptionOut(SubscriptionOut):
    secret: str = Field(description="the signing secret (`whsec_…`); shown in this answer only")


class RotatedSecretOut(NewSubscriptionOut):
    previous_secret_expires_at: datetime = Field(
        description="until then the previous secret signs too (both signatures are sent)")


class DeliveryOut(Representation):
    id: UUID = Field(description="also the e-mail's Message-ID and the webhook's "
                                 "`webhook-id`: a resend carries the same")
    cause_event_id: UUID
    cause_event_type: str
    channel: Channel
    template: str
    recipient_ref: str = Field(description="a member id, `officers`, or a webhook "
                                           "subscription id")
    status: Status
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    settled_at: datetime | None
    last_error: str | None = Field(description=(
        "why the last attempt failed (never an address); for a webhook one of `timeout`, "
        "`connection_failed`, `http_status: <code>`, `url_refused` (a URL from before the "
        "current rules: subscribe again)"))


class PreferencesOut(Representation):
    member_id: UUID
    opted_out: list[str] = Field(description="categories the member receives no mail for")
    categories: list[str] = Field(description="every category that can be opted out of")


def subscription_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "url": without_credentials(row["url"]),
            "event_types": list(row["event_types"]), "active": row["active"], "created_at": row["created_at"]}


def delivery_view(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(row["id"]), "cause_event_id": str(row["cause_event_id"]),
            "cause_event_type": row["cause_event_type"], "channel": row["channel"],
            "template": row["template"], "recipient_ref": row["recipient_ref"],
            "status": row["status"], "attempts": row["attempts"],
            "created_at": row["created_at"], "next_attempt_at": row["next_attempt_at"],
            "sent_at": row["sent_at"], "settled_at": row["settled_at"],
            "last_error": row["last_error"]}


def preferences_view(member_id: UUID, opted_out: list[str]) -> dict[str, Any]:
    return {"member_id": str(member_id), "opted_out": opted_out,
            "categories": list(domain.CATEGORIES)}
