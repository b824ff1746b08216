"""The membership service, declared."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, PrivateAttr, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from cowork.membership import commands, demo, registration_limits
from cowork.membership.api import ROUTERS
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class MembershipSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERSHIP_")  # the rest from ServiceSettings
    service_name: str = "membership"
    http_port: int = 8001
    # Anonymous self-registrations per e-mail inbox and per client (an IPv4 address, an IPv6
    # /64) in a window; above either: 429 with Retry-After. Staff registrations are not counted.
    registration_limit_per_address: int = Field(default=5, ge=1)
    registration_limit_per_client: int = Field(default=30, ge=1)
    registration_limit_window_seconds: int = Field(default=3600, ge=1)
    # The key of the counters' digests (unset: derived from COWORK_JWT_SECRET; with neither,
    # a random key per process, so each replica counts on its own).
    registration_limit_key: SecretStr = SecretStr("")
    # Proxies (CIDRs) whose X-Forwarded-For is believed: the ingress controller's addresses.
    # Empty: the TCP peer is the client (a header anyone can write is never believed).
    trusted_proxies: list[str] = Field(default_factory=list)
    _limit_key: bytes = PrivateAttr(default=b"")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        registration_limits.trusted_networks(value)  # a ValueError names the bad entry
        return value

    @property
    def limit_key(self) -> bytes:
        """The digests' key, made once (a random one stays the same for this process)."""
        if not self._limit_key:
            secret = (self.registration_limit_key.get_secret_value()
                      or self.jwt_secret.get_secret_value() or secrets.token_hex(32))
            self._limit_key = registration_limits.limit_key(secret)
        return self._limit_key


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
