"""The notifications service, declared: its settings, what it owns, publishes and consumes,
and its background worker, the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Self

from pydantic import SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from cowork.notifications import commands, domain, handlers
from cowork.notifications.api import ROUTERS
from cowork.notifications.dispatcher import DispatchPolicy, MailSettings, dispatcher_worker
from cowork.notifications.mail import SmtpServer, SmtpTls
from cowork.shared.definition import ServiceDefinition
from cowork.shared.events import topics
from cowork.shared.scheduler import Clock
from cowork.shared.service import ConsumerSpec
from cowork.shared.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")  # the rest from ServiceSettings
    service_name: str = "notifications"
    http_port: int = 8004
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Unset: starttls, and none in the local stack (its sink speaks plain SMTP); none is
    # refused anywhere else. smtp_ca_file: PEM CAs for a server with a private CA.
    smtp_tls: SmtpTls | None = None
    smtp_ca_file: Path | None = None
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

    @model_validator(mode="after")
    def mail_is_encrypted(self) -> Self:
        if self.smtp_tls is None:
            self.smtp_tls = "none" if self.is_local else "starttls"
        elif self.smtp_tls == "none" and not self.is_local:
            raise ValueError(
                "NOTIFICATIONS_SMTP_TLS=none sends mail and the SMTP password in plain text: "
                f"refused in the {self.environment!r} environment (starttls or implicit; none "
                "only with COWORK_ENV=local)")
        return self

    def dispatch_policy(self) -> DispatchPolicy:
        return DispatchPolicy(self.delivery_concurrency, self.delivery_max_attempts,
                              self.delivery_retry_base_seconds, self.delivery_retry_max_seconds,
                              self.webhook_timeout_seconds, self.dispatch_poll_seconds)

    def mail_settings(self) -> MailSettings:
        server = SmtpServer(self.smtp_host, self.smtp_port, self.smtp_username,
                            self.smtp_password.get_secret_value() if self.smtp_password else None,
                            self.smtp_tls or "starttls", self.smtp_timeout_seconds,
                            str(self.smtp_ca_file) if self.smtp_ca_file else None)
        return MailSettings(server, self.mail_from, self.officers_email, self.officers_language,
                            self.message_id_domain, self.space_timezone, self.calendar_location)


def consumers(settings: NotificationsSettings, clock: Clock) -> Sequence[ConsumerSpec]:
    return [
        ConsumerSpec("contacts", [topics.MEMBERSHIP_CONTACTS], handlers.contact_handlers(clock)),
        ConsumerSpec("events", [topics.MEMBERSHIP_EVENTS, topics.BOOKING_EVENTS,
                                topics.VOUCHERS_EVENTS], handlers.event_handlers(clock)),
    ]


SERVICE = ServiceDefinition(
    title="Cowork notifications",
    description="E-mail, signed partner webhooks, booking reminders and the delivery log.",
    settings=NotificationsSettings, migrations=MIGRATIONS, routers=ROUTERS,
    publishes=[topics.NOTIFICATIONS_EVENTS], consumers=consumers,
    jobs={domain.REMINDER_24H: commands.send_reminder, domain.REMINDER_1H: commands.send_reminder},
    workers=[dispatcher_worker])

create_app = SERVICE.app
create_runtime = SERVICE.runtime
