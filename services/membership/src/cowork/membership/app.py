"""Wiring of the membership service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from cowork.membership import api, commands, demo
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, system_clock
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class MembershipSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MEMBERSHIP_", extra="ignore",
                                      populate_by_name=True)
    service_name: str = "membership"
    http_port: int = 8001
    demo_data: bool = False


def create_runtime(settings: MembershipSettings | None = None,
                   clock: Clock = system_clock) -> ServiceRuntime:
    settings = settings or MembershipSettings()
    return ServiceRuntime(
        settings=settings,
        migrations=MIGRATIONS,
        publishes=[topics.MEMBERSHIP_EVENTS, topics.MEMBERSHIP_CONTACTS],
        jobs={commands.EXPIRE_JOB: commands.expire_job,
              commands.EXPIRING_JOB: commands.expiring_job},
        clock=clock,
        on_started=demo.load if settings.demo_data else None,
    )


def create_app(settings: MembershipSettings | None = None,
               clock: Clock = system_clock) -> FastAPI:
    runtime = create_runtime(settings, clock)
    return runtime.create_app(
        title="Cowork membership", routers=[api.router(runtime)],
        description="Members, plans and memberships of the coworking space; GDPR erasure.")
