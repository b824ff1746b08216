"""The booking service, declared: its settings and what it owns, publishes and consumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from pydantic_settings import SettingsConfigDict

from cowork.booking import commands, demo, handlers
from cowork.booking.api import ROUTERS
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, JobHandler
from cowork.shared.service import ConsumerSpec
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_")  # the rest from ServiceSettings
    service_name: str = "booking"
    http_port: int = 8002
    cancel_cutoff_hours: float = 24.0
    check_in_early_minutes: int = 15
    no_show_grace_minutes: int = 30

    def policy(self) -> commands.Policy:
        return commands.Policy(timedelta(hours=self.cancel_cutoff_hours),
                               timedelta(minutes=self.check_in_early_minutes),
                               timedelta(minutes=self.no_show_grace_minutes))


def consumers(settings: BookingSettings, clock: Clock) -> Sequence[ConsumerSpec]:
    return [ConsumerSpec("eligibility", [topics.MEMBERSHIP_EVENTS],
                         handlers.handler_map(settings.policy(), clock))]


def jobs(settings: BookingSettings) -> Mapping[str, JobHandler]:
    return {commands.NO_SHOW_JOB: commands.no_show_job(settings.policy()),
            commands.COMPLETE_JOB: commands.complete_job}


SERVICE = ServiceDefinition(
    title="Cowork booking",
    description="Spaces, resources, race-free bookings, waitlist and no-shows.",
    settings=BookingSettings, migrations=MIGRATIONS, routers=ROUTERS,
    publishes=[topics.BOOKING_EVENTS], consumers=consumers, jobs=jobs, demo=demo.load)

create_app = SERVICE.app
create_runtime = SERVICE.runtime
