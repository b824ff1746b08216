"""The membership service, declared."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from cowork.membership import commands, demo
from cowork.membership.api import ROUTERS
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.settings import ClientLimitedSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class MembershipSettings(ClientLimitedSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERSHIP_")  # the rest from ServiceSettings
    service_name: str = "membership"
    http_port: int = 8001
    # Anonymous self-registrations per e-mail inbox and per client (an IPv4 address, an IPv6
    # /64) in a window; above either: 429 with Retry-After. Staff registrations are not counted.
    registration_limit_per_address: int = Field(default=5, ge=1)


SERVICE = ServiceDefinition(
    title="Cowork membership",
    description="Members, plans and memberships of the coworking space; GDPR erasure.",
    settings=MembershipSettings,
    migrations=MIGRATIONS,
    routers=ROUTERS,
    publishes=[topics.MEMBERSHIP_EVENTS, topics.MEMBERSHIP_CONTACTS],
    jobs={commands.EXPIRE_JOB: commands.expire_job,
          commands.EXPIRING_JOB: commands.expiring_job},
    demo=demo.load,
)

create_app = SERVICE.app
create_runtime = SERVICE.runtime
