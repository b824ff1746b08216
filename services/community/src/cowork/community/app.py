"""The community service, declared."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cowork.community import commands, demo, handlers
from cowork.community.api import ROUTERS
from cowork.community.commands import open_data
from cowork.community.pages import PAGE_ROUTERS
from cowork.community.pages.body_guard import accept_page_forms
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, JobHandler, system_clock
from cowork.shared.service import ConsumerSpec
from cowork.shared.settings import ClientLimitedSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class CommunitySettings(ClientLimitedSettings):
    model_config = SettingsConfigDict(env_prefix="COMMUNITY_")  # the rest from ServiceSettings
    service_name: str = "community"
    limit_purpose: ClassVar[str] = "cowork.community.registration-limits"
    http_port: int = 8005
    # Where citizens reach this service: the links in the mails (confirm, cancel, erase) and the
    # open-data URLs start with it.
    public_base_url: str = "http://localhost:8005"
    # An unconfirmed registration holds its seat this long, then the seat goes to the next.
    registration_hold_hours: int = Field(default=48, ge=1, le=24 * 30)
    # Anonymous registrations per client (an IPv4 address, an IPv6 /64; docs/
    # community-meetings.md "Seats"): for one meeting within a hold (so one machine holds at
    # most this many unconfirmed seats of a meeting at once: a family, not a script), and for
    # any meetings in a window. Above either: 429 `too_many_registrations` with Retry-After.
    # A town hall's or a library's shared connection may need more: raise them, or set
    # `trusted_proxies` so the clients behind the ingress are told apart.
    registration_limit_per_meeting: int = Field(default=10, ge=1)
    # Open data: cells counting fewer people than this are suppressed; the rights holder is
    # the municipality by its IPA code (c_ + cadastral code: Novi Ligure is F965).
    open_data_k: int = Field(default=5, ge=3, le=100)
    open_data_ipa_code: str = Field(default="c_f965", pattern=r"^[a-z0-9_]{2,20}$")
    open_data_rights_holder: str = "Comune di Novi Ligure"
    # The available hours of a seat: hours open on each weekday (Monday to Friday).
    open_hours_per_weekday: int = Field(default=10, ge=1, le=24)

    @property
    def erasure_digest_key(self) -> bytes:
        """The key of the erasure requests' address digests: derived from the client limits'
        key (its secret, or COWORK_JWT_SECRET; ClientLimitedSettings) for its own purpose, so
        neither digest says anything about the other. Without either secret it is random per
        process, like the limits' key: each replica then counts an address's requests on its
        own, and a confirmation tombstones only the cards of requests made through it (the
        others' go when their link expires)."""
        return hmac.new(self.limit_key, b"cowork.community.erasure-requests",
                        hashlib.sha256).digest()


def consumers(settings: CommunitySettings, clock: Clock) -> Sequence[ConsumerSpec]:
    """The statistics, from membership's, booking's, vouchers' and community's own events."""
    return [ConsumerSpec("statistics", [topics.MEMBERSHIP_EVENTS, topics.BOOKING_EVENTS,
                                        topics.VOUCHERS_EVENTS, topics.COMMUNITY_EVENTS],
                         handlers.STATISTICS_HANDLERS)]


def jobs(settings: CommunitySettings) -> Mapping[str, JobHandler]:
    """The registrations' holds, reminders and contact tombstones; the monthly open data."""
    build = open_data.build_job(open_data.BuildSettings(
        public_base_url=settings.public_base_url, k=settings.open_data_k,
        open_hours_per_weekday=settings.open_hours_per_weekday))
    return {**commands.jobs(settings), open_data.BUILD_JOB: build}


@dataclass(frozen=True)
class CommunityDefinition(ServiceDefinition[CommunitySettings]):
    """The pages' forms post urlencoded bodies, which every service's API refuses: the app
    lets them through on the pages' routes (cowork.community.pages.body_guard)."""

    def app(self, settings: CommunitySettings | None = None, clock: Clock = system_clock) -> FastAPI:
        return accept_page_forms(super().app(settings, clock))


SERVICE = CommunityDefinition(
    title="Cowork community",
    description="The town's public meetings (registration with double opt-in, waiting list, "
                "check-in, minutes), expressions of interest, open data and the council's "
                "monthly report, with the public pages citizens use.",
    settings=CommunitySettings,
    migrations=MIGRATIONS,
    routers=[*ROUTERS, *PAGE_ROUTERS],
    publishes=[topics.COMMUNITY_EVENTS, topics.COMMUNITY_CONTACTS],
    consumers=consumers,
    jobs=jobs,
    demo=demo.load,
)

create_app = SERVICE.app
create_runtime = SERVICE.runtime
