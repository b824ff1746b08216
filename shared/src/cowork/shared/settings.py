"""Settings from the environment: one pydantic-settings class per service, each with its prefix.

A few values are the same for every service and come from `COWORK_*` variables whatever the
service's prefix (the JWT secret and issuer, the topic prefix), so one environment can serve the
whole stack. The Kafka address is per service (`<SERVICE>_KAFKA_BOOTSTRAP`).
"""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

LOCAL_DEV_JWT_SECRET = "cowork-local-development-secret-change-me"  # noqa: S105


def _shared(name: str, field: str) -> AliasChoices:
    return AliasChoices(f"COWORK_{name}", field)


class ServiceSettings(BaseSettings):
    """Base for every service's settings. Subclasses set `env_prefix` (e.g. `BOOKING_`)."""

    model_config = SettingsConfigDict(env_prefix="COWORK_", extra="ignore", populate_by_name=True)

    service_name: str = "cowork"
    database_url: SecretStr = SecretStr("postgresql://postgres@127.0.0.1:5432/postgres")
    db_pool_min: int = 1
    db_pool_max: int = 10
    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="", validation_alias=_shared("TOPIC_PREFIX", "topic_prefix"))
    jwt_secret: SecretStr = Field(
        default=SecretStr(LOCAL_DEV_JWT_SECRET),
        validation_alias=_shared("JWT_SECRET", "jwt_secret"),
    )
    jwt_issuer: str = Field(default="cowork", validation_alias=_shared("JWT_ISSUER", "jwt_issuer"))
    # How the topics a service creates at start are made (existing topics are left as they are).
    # The same for every service, so whichever starts first creates a topic the same way.
    topic_partitions: int = Field(default=3, ge=1, le=10_000, validation_alias=_shared(
        "TOPIC_PARTITIONS", "topic_partitions"))
    topic_replication_factor: int = Field(  # 0: 3 on a cluster of three brokers or more, else 1
        default=0, ge=0, le=32,
        validation_alias=_shared("TOPIC_REPLICATION_FACTOR", "topic_replication_factor"))
    topic_config: dict[str, str] = Field(  # topic-level configs as JSON, e.g. retention.ms
        default_factory=dict, validation_alias=_shared("TOPIC_CONFIG", "topic_config"))
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    log_level: str = "INFO"
    log_json: bool = True
    outbox_batch_size: int = 500
    outbox_poll_seconds: float = 1.0
    # Relay batches sent and not yet acknowledged at once (at most 5: the idempotent
    # producer's limit for keeping each partition's order). 1 measured faster where the relay
    # shares its process with the consumers (docs/benchmarks.md, 2026-11-27).
    outbox_in_flight_batches: int = 1
    # Retention (cowork.shared.retention, docs/operations.md). Keep the inbox's above the
    # dead-letter topic's retention: a replayed record is a duplicate only while its id is kept.
    outbox_retention_hours: int = 168
    outbox_parked_retention_hours: int = 720
    inbox_retention_hours: int = 720
    scheduled_jobs_retention_hours: int = 720
    purge_batch_size: int = 1000
    purge_interval_seconds: float = 300.0
    consumer_max_attempts: int = 5
    consumer_retry_base_seconds: float = 0.2
    consumer_retry_max_seconds: float = 30.0
    consumer_batch_size: int = 500
    scheduler_poll_seconds: float = 1.0
    # How often the backlog, Kafka-up and consumer-lag gauges are measured (docs/operations.md).
    kafka_watch_seconds: float = 5.0
    run_consumers: bool = True
    run_relay: bool = True
    run_scheduler: bool = True

    def topic(self, logical_name: str) -> str:
        """The physical topic name (a prefix isolates test runs sharing one broker)."""
        return f"{self.topic_prefix}{logical_name}"
