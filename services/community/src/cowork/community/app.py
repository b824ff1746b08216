"""The community service, declared."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cowork.community import commands, demo
from cowork.community.api import ROUTERS
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class CommunitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="COMMUNITY_")  # the rest from ServiceSettings
    service_name: str = "community"
    http_port: int = 8005
    # Where citizens reach this service: the links in the mails (confirm, cancel, erase) and the
    # open-data URLs start with it.
    public_base_url: str = "http://localhost:8005"
    # An unconfirmed registration holds its seat this long, then the seat goes to the next.
    registration_hold_hours: int = Field(default=48, ge=1, le=24 * 30)


SERVICE = ServiceDefinition(
    title="Cowork community",
    description="The town's public meetings (registration with double opt-in, waiting list, "
                "check-in, minutes), expressions of interest, open data and the council's "
                "monthly report, with the public pages citizens use.",
    settings=CommunitySettings,
    migrations=MIGRATIONS,
    routers=ROUTERS,
    publishes=[topics.COMMUNITY_EVENTS, topics.COMMUNITY_CONTACTS],
    jobs=commands.jobs,
    demo=demo.load,
)

create_app = SERVICE.app
create_runtime = SERVICE.runtime
