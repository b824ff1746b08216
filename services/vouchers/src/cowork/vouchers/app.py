"""The vouchers service, declared."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock
from cowork.shared.service import ConsumerSpec
from cowork.shared.settings import ServiceSettings
from cowork.vouchers import commands, demo, handlers
from cowork.vouchers.api import ROUTERS

MIGRATIONS = Path(__file__).parent / "migrations"


class VouchersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VOUCHERS_")  # the rest from ServiceSettings
    service_name: str = "vouchers"
    http_port: int = 8003


def consumers(settings: VouchersSettings, clock: Clock) -> Sequence[ConsumerSpec]:
    """Redemptions from booking's and membership's events (and the replicas they keep)."""
    return [ConsumerSpec("redemptions", [topics.BOOKING_EVENTS, topics.MEMBERSHIP_EVENTS],
                         handlers.handlers(clock))]


SERVICE = ServiceDefinition(
    title="Cowork vouchers",
    description="Municipal subsidy programmes, vouchers, redemptions from events, an "
                "append-only double-entry ledger and monthly statements.",
    settings=VouchersSettings,
    migrations=MIGRATIONS,
    routers=ROUTERS,
    publishes=[topics.VOUCHERS_EVENTS],
    consumers=consumers,
    jobs=commands.JOBS,
    demo=demo.load,
)

create_app = SERVICE.app
create_runtime = SERVICE.runtime
