"""A service, declared: what it is called, what it owns, what it publishes and consumes, its
routes, scheduled jobs, background workers and demo data. `app.py` states one
`ServiceDefinition`; the definition builds the runtime (`runtime`), the FastAPI app (`app`)
and the command line (`main`), so no service copies the wiring.

Parts that depend on settings or on the clock (a consumer's handlers, a booking policy) are
given as functions of both; routes read what they need by dependency (`Runtime`, `Caller`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI

from cowork.shared.scheduler import Clock, JobHandler, system_clock
from cowork.shared.service import ConsumerSpec, ServiceRuntime, Worker, run_service_cli
from cowork.shared.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def _no_consumers(settings: ServiceSettings, clock: Clock) -> Sequence[ConsumerSpec]:
    return ()


def _no_jobs(settings: ServiceSettings) -> Mapping[str, JobHandler]:
    return {}


@dataclass(frozen=True)
class ServiceDefinition(Generic[S]):
    title: str
    description: str
    settings: type[S]
    migrations: Path
    routers: Sequence[APIRouter]
    publishes: Sequence[str] = ()
    consumers: Callable[[S, Clock], Sequence[ConsumerSpec]] = _no_consumers
    # The scheduled jobs' handlers by name, or a function of the settings that gives them.
    jobs: Mapping[str, JobHandler] | Callable[[S], Mapping[str, JobHandler]] = _no_jobs
    workers: Sequence[Worker] = ()
    # Loaded once everything has started when the settings' `demo_data` is true (`make run`).
    demo: Callable[[ServiceRuntime], Awaitable[None]] | None = None

    def runtime(self, settings: S | None = None, clock: Clock = system_clock) -> ServiceRuntime:
        settings = settings or self.settings()
        load_demo = self.demo if settings.demo_data else None
        return ServiceRuntime(
            settings=settings, migrations=self.migrations, publishes=self.publishes,
            consumers=self.consumers(settings, clock),
            jobs=self.jobs if isinstance(self.jobs, Mapping) else self.jobs(settings), clock=clock,
            on_started=load_demo, workers=self.workers)

    def app(self, settings: S | None = None, clock: Clock = system_clock) -> FastAPI:
        runtime = self.runtime(settings, clock)
        return runtime.create_app(title=self.title, description=self.description,
                                  routers=self.routers)

    def main(self, argv: Sequence[str]) -> int:
        """`python -m cowork.<service> [serve|migrate|after-restore]`."""
        return run_service_cli(argv, settings=self.settings(), migrations=self.migrations,
                               create_app=self.app)
