"""Wiring of the notifications service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from pydantic import SecretStr
from pydantic_settings import SettingsConfigDict

from cowork.notifications import api, commands, domain, handlers
from cowork.notifications.dispatcher import Dispatcher, DispatchPolicy, MailSettings
from cowork.notifications.mail import SmtpServer
from cowork.notifications.rendering import Renderer
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock, system_clock
from cowork.shared.service import ConsumerSpec, ServiceRuntime
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_", extra="ignore",
                                      populate_by_name=True)
    service_name: str = "notifications"
    http_port: int = 8004
    demo_data: bool = False
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "Cowork Novi Ligure <noreply@cowork.localhost>"
    message_id_domain: str = "notifications.cowork.localhost"
    officers_email: str = "ufficio.lavoro@comune.novi-ligure.example"
    officers_language: str = "it"
    space_timezone: str = "Europe/Rome"
    calendar_location: str = "Cowork, Biblioteca Civica, Via Marconi 36, Novi Ligure"
    templates_dir: Path | None = None  # searched before the built-in templates
    delivery_concurrency: int = 32
    delivery_max_attempts: int = 8
    delivery_retry_base_seconds: float = 5.0
    delivery_retry_max_seconds: float = 3600.0
    webhook_timeout_seconds: float = 5.0
    dispatch_poll_seconds: float = 1.0

    def dispatch_policy(self) -> DispatchPolicy:
        return DispatchPolicy(self.delivery_concurrency, self.delivery_max_attempts,
                              self.delivery_retry_base_seconds, self.delivery_retry_max_seconds,
                              self.webhook_timeout_seconds, self.dispatch_poll_seconds)

    def mail_settings(self) -> MailSettings:
        server = SmtpServer(self.smtp_host, self.smtp_port, self.smtp_username,
                            self.smtp_password.get_secret_value() if self.smtp_password else None,
                            self.smtp_starttls, self.smtp_timeout_seconds)
        return MailSettings(server, self.mail_from, self.officers_email, self.officers_language,
                            self.message_id_domain, self.space_timezone, self.calendar_location)


def create_runtime(settings: NotificationsSettings | None = None,
                   clock: Clock = system_clock) -> ServiceRuntime:
    settings = settings or NotificationsSettings()
    return ServiceRuntime(
        settings=settings,
        migrations=MIGRATIONS,
        publishes=[topics.NOTIFICATIONS_EVENTS],
        consumers=[
            ConsumerSpec("contacts", [topics.MEMBERSHIP_CONTACTS],
                         handlers.contact_handlers(clock)),
            ConsumerSpec("events", [topics.MEMBERSHIP_EVENTS, topics.BOOKING_EVENTS,
                                    topics.VOUCHERS_EVENTS], handlers.event_handlers(clock)),
        ],
        jobs={domain.REMINDER_24H: commands.send_reminder,
              domain.REMINDER_1H: commands.send_reminder},
        clock=clock,
    )


def create_app(settings: NotificationsSettings | None = None,
               clock: Clock = system_clock) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = create_runtime(settings, clock)
    holder: dict[str, Dispatcher] = {}

    def wake() -> None:
        if "dispatcher" in holder:
            holder["dispatcher"].wake()

    app = runtime.create_app(
        title="Cowork notifications", routers=[api.router(runtime, wake)],
        description="E-mail, signed partner webhooks, booking reminders and the delivery log.")
    runtime_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The dispatcher starts after the runtime (it needs the pool) and stops before it.
        async with runtime_lifespan(app):
            dispatcher = Dispatcher(
                runtime.db, dsn=settings.database_url.get_secret_value(),
                policy=settings.dispatch_policy(), mail_settings=settings.mail_settings(),
                renderer=Renderer(settings.templates_dir, settings.space_timezone), clock=clock)
            holder["dispatcher"] = app.state.dispatcher = dispatcher
            task = asyncio.create_task(dispatcher.run(), name="dispatcher")
            try:
                yield
            finally:
                await dispatcher.stop()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app.router.lifespan_context = lifespan
    return app
