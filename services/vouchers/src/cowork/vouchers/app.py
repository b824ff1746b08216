"""Wiring of the vouchers service."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from pydantic_settings import SettingsConfigDict

from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, system_clock
from cowork.shared.service import ConsumerSpec, ServiceRuntime
from cowork.shared.settings import ServiceSettings
from cowork.vouchers import api, commands, demo, handlers

MIGRATIONS = Path(__file__).parent / "migrations"


class VouchersSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="VOUCHERS_", extra="ignore",
                                      populate_by_name=True)
    service_name: str = "vouchers"
    http_port: int = 8003
    demo_data: bool = False


def create_runtime(settings: VouchersSettings | None = None,
                   clock: Clock = system_clock) -> ServiceRuntime:
    settings = settings or VouchersSettings()
    return ServiceRuntime(
        settings=settings,
        migrations=MIGRATIONS,
        publishes=[topics.VOUCHERS_EVENTS],
        consumers=[ConsumerSpec("redemptions", [topics.BOOKING_EVENTS, topics.MEMBERSHIP_EVENTS],
                                handlers.handlers(clock))],
        jobs=commands.JOBS,
        clock=clock,
        on_started=demo.load if settings.demo_data else None,
    )


def create_app(settings: VouchersSettings | None = None, clock: Clock = system_clock) -> FastAPI:
    settings = settings or VouchersSettings()
    runtime = create_runtime(settings, clock)
    return runtime.create_app(
        title="Cowork vouchers", routers=[api.router(runtime)],
        description="Municipal subsidy programmes, vouchers, redemptions from events, an "
                    "append-only double-entry ledger and monthly statements.")
