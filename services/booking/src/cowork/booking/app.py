"""Wiring of the booking service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from cowork.booking import api, commands, demo, handlers
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, system_clock
from cowork.shared.service import ConsumerSpec, ServiceRuntime
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class BookingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOOKING_", extra="ignore",
                                      populate_by_name=True)
    service_name: str = "booking"
    http_port: int = 8002
    demo_data: bool = False
    cancel_cutoff_hours: float = 24.0
    check_in_early_minutes: int = 15
    no_show_grace_minutes: int = 30

    def policy(self) -> commands.Policy:
        return commands.Policy(timedelta(hours=self.cancel_cutoff_hours),
                               timedelta(minutes=self.check_in_early_minutes),
                               timedelta(minutes=self.no_show_grace_minutes))


def create_runtime(settings: BookingSettings | None = None,
                   clock: Clock = system_clock) -> ServiceRuntime:
    settings = settings or BookingSettings()
    policy = settings.policy()
    return ServiceRuntime(
        settings=settings,
        migrations=MIGRATIONS,
        publishes=[topics.BOOKING_EVENTS],
        consumers=[ConsumerSpec("eligibility", [topics.MEMBERSHIP_EVENTS],
                                handlers.handler_map(policy, clock))],
        jobs={commands.NO_SHOW_JOB: commands.no_show_job(policy),
              commands.COMPLETE_JOB: commands.complete_job},
        clock=clock,
        on_started=demo.load if settings.demo_data else None,
    )


def create_app(settings: BookingSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or BookingSettings()
    runtime = create_runtime(settings, clock)
    return runtime.create_app(
        title="Cowork booking", routers=[api.router(runtime, settings.policy())],
        description="Spaces, resources, race-free bookings, waitlist and no-shows.")
