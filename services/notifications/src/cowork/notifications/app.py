"""The notifications service, declared: its settings, what it owns, publishes and consumes,
and its background worker, the dispatcher."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from cowork.notifications import commands, domain, handlers
from cowork.notifications.addresses import AddressPolicy
from cowork.notifications.api import ROUTERS
from cowork.notifications.dispatcher import DispatchPolicy, dispatcher_worker
from cowork.notifications.mail import SmtpServer, SmtpTls
from cowork.notifications.mail_sender import MailSettings
from cowork.notifications.queue_metrics import queue_sampler
from cowork.notifications.secret_box import LOCAL_DEV_SECRET_KEY, SecretBox
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
    # Mail and webhooks have their own attempts in flight: a partner's slow endpoints can take
    # every webhook slot, never a member's mail (issue 20 point 3).
    mail_concurrency: int = Field(default=16, ge=1)
    webhook_concurrency: int = Field(default=16, ge=1)
    webhook_in_flight_per_subscription: int = Field(default=2, ge=1)
    webhook_in_flight_per_partner: int = Field(default=4, ge=1)
    webhook_subscriptions_per_partner: int = Field(default=10, ge=1)
    delivery_max_attempts: int = 8
    delivery_retry_base_seconds: float = 5.0
    delivery_retry_max_seconds: float = 3600.0
    # One deadline for a whole webhook attempt (connect, send, the reply's status line).
    webhook_timeout_seconds: float = 5.0
    # Where webhooks may go besides the public internet (CIDRs; docs/notifications.md).
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)
    # Fernet keys (comma-separated, the first encrypts) for the signing secrets at rest.
    webhook_secret_keys: SecretStr = SecretStr("")
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0)
    deliveries_retention_days: int = Field(default=90, ge=1)
    dispatch_poll_seconds: float = 1.0

    @model_validator(mode="after")
    def secret_keys_are_configured(self) -> Self:
        if self.webhook_secret_keys.get_secret_value():
            return self
        if self.is_local:
            self.webhook_secret_keys = SecretStr(LOCAL_DEV_SECRET_KEY)
            return self
        raise ValueError(
            "NOTIFICATIONS_WEBHOOK_SECRET_KEYS is not set: the webhooks' signing secrets are "
            f"encrypted at rest, and the {self.environment!r} environment has no development "
            "key; set it from a Secret (a Fernet key), or COWORK_ENV=local")

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
        return DispatchPolicy(
            mail_concurrency=self.mail_concurrency, webhook_concurrency=self.webhook_concurrency,
            in_flight_per_subscription=self.webhook_in_flight_per_subscription,
            in_flight_per_partner=self.webhook_in_flight_per_partner,
            max_attempts=self.delivery_max_attempts,
            retry_base_seconds=self.delivery_retry_base_seconds,
            retry_max_seconds=self.delivery_retry_max_seconds,
            webhook_timeout_seconds=self.webhook_timeout_seconds,
            poll_seconds=self.dispatch_poll_seconds,
            secret_overlap=timedelta(hours=self.webhook_secret_overlap_hours),
            retention=timedelta(days=self.deliveries_retention_days),
            housekeeping_seconds=self.purge_interval_seconds)

    def address_policy(self) -> AddressPolicy:
        return AddressPolicy(local=self.is_local,
                             allowed_networks=tuple(self.webhook_allowed_networks))

    def secret_box(self) -> SecretBox:
        return SecretBox(self.webhook_secret_keys.get_secret_value())

    def mail_settings(self) -> MailSettings:
        server = SmtpServer(self.smtp_host, self.smtp_port, self.smtp_username,
                            self.smtp_password.get_secret_value() if self.smtp_password else None,
                            self.smtp_tls or "starttls", self.smtp_timeout_seconds,
                            str(self.smtp_ca_file) if self.smtp_ca_file else None)
        return MailSettings(server, self.mail_from, self.officers_email, self.officers_language,
                            self.message_id_domain, self.space_timezone, self.calendar_location)


def consumers(settings: NotificationsSettings, clock: Clock) -> Sequence[ConsumerSpec]:
    return [
        ConsumerSpec("contacts", [topics.MEMBERSHIP_CONTACTS, topics.COMMUNITY_CONTACTS],
                     handlers.contact_handlers(clock)),
        ConsumerSpec("events", [topics.MEMBERSHIP_EVENTS, topics.BOOKING_EVENTS,
                                topics.VOUCHERS_EVENTS, topics.COMMUNITY_EVENTS],
                     handlers.event_handlers(clock)),
    ]


SERVICE = ServiceDefinition(
    title="Cowork notifications",
    description="E-mail, signed partner webhooks, booking reminders and the delivery log.",
    settings=NotificationsSettings, migrations=MIGRATIONS, routers=ROUTERS,
    publishes=[topics.NOTIFICATIONS_EVENTS], consumers=consumers,
    jobs={domain.REMINDER_24H: commands.send_reminder, domain.REMINDER_1H: commands.send_reminder},
    workers=[dispatcher_worker, queue_sampler])

create_app = SERVICE.app
create_runtime = SERVICE.runtime
