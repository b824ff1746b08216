"""Settings from the environment: one pydantic-settings class per service, each with its prefix.

A few values are the same for every service and come from `COWORK_*` variables whatever the
service's prefix (the JWT secret and issuer, the topic prefix), so one environment can serve the
whole stack. The Kafka address is per service (`<SERVICE>_KAFKA_BOOTSTRAP`).
"""

from __future__ import annotations

import secrets
from typing import ClassVar, Literal, Self

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cowork.shared import registration_limits

LOCAL_DEV_JWT_SECRET = "cowork-local-development-secret-change-me"  # noqa: S105
# The environment is "local" only when said so (`COWORK_ENV=local`, set by the devstack and the
# test suite): anywhere else a forgotten secret must stop the service, not fall back to the
# development secret published in this repository.
LOCAL = "local"
# RFC 7518 3.2: an HS256 key at least as long as the hash (32 bytes); a shorter one can be
# brute-forced offline from any one token.
MIN_JWT_SECRET_BYTES = 32


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
    environment: str = Field(default="production",
                             validation_alias=_shared("ENV", "environment"))
    # HS256 tokens signed with a shared secret (the local stack, service accounts). Empty:
    # the development secret in the local stack, and no HS256 tokens anywhere else.
    jwt_secret: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=_shared("JWT_SECRET", "jwt_secret"),
    )
    jwt_issuer: str = Field(default="cowork", validation_alias=_shared("JWT_ISSUER", "jwt_issuer"))
    # OpenID Connect (the municipality's Keycloak, a SPID/CIE gateway): RS256/ES256 tokens
    # verified against the issuer's JWKS. `iss` must be the issuer, `aud` this service's
    # audience (default: the service's name), the roles read from the claim at the dotted path.
    oidc_issuer: str | None = Field(default=None,
                                    validation_alias=_shared("OIDC_ISSUER", "oidc_issuer"))
    oidc_jwks_url: str | None = Field(
        default=None, validation_alias=_shared("OIDC_JWKS_URL", "oidc_jwks_url"),
        description="default: the jwks_uri of the issuer's .well-known/openid-configuration")
    oidc_audience: str | None = None  # per service: <SERVICE>_OIDC_AUDIENCE
    oidc_roles_claim: str = Field(default="roles",
                                  validation_alias=_shared("OIDC_ROLES_CLAIM", "oidc_roles_claim"))
    oidc_algorithms: tuple[Literal["RS256", "ES256", "RS384", "RS512", "ES384", "PS256"], ...] = (
        Field(default=("RS256", "ES256"),
              validation_alias=_shared("OIDC_ALGORITHMS", "oidc_algorithms")))
    oidc_jwks_cache_seconds: int = Field(default=300, ge=0)
    oidc_jwks_refresh_cooldown_seconds: float = Field(default=30.0, ge=0)
    # How the topics a service creates at start are made (existing topics are left as they are).
    # The same for every service, so whichever starts first creates a topic the same way.
    topic_partitions: int = Field(default=3, ge=1, le=10_000, validation_alias=_shared(
        "TOPIC_PARTITIONS", "topic_partitions"))
    topic_replication_factor: int = Field(  # 0: 3 on a cluster of three brokers or more, else 1
        default=0, ge=0, le=32,
        validation_alias=_shared("TOPIC_REPLICATION_FACTOR", "topic_replication_factor"))
    topic_config: dict[str, str] = Field(  # topic-level configs as JSON, e.g. retention.ms
        default_factory=dict, validation_alias=_shared("TOPIC_CONFIG", "topic_config"))
    # How long a superseded or erased value (a tombstoned contact card) may stay in a compacted
    # topic's log: set on those topics at every start, existing ones too (docs/operations.md).
    topic_compaction_bound_ms: int = Field(
        default=24 * 3600 * 1000, ge=1000,
        validation_alias=_shared("TOPIC_COMPACTION_BOUND_MS", "topic_compaction_bound_ms"))
    # Demo data loaded at start (`make run`); a service without demo data ignores it.
    demo_data: bool = False
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Request bodies above this are refused with 413 (every body the API takes is a few KB).
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True
    outbox_batch_size: int = 500
    outbox_poll_seconds: float = 1.0
    # Relay batches sent and not yet acknowledged at once (at most 5: the idempotent
    # producer's limit for keeping each partition's order). 1 measured faster where the relay
    # shares its process with the consumers (docs/benchmarks/history.md, 2026-11-27).
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
    # Failures (not the database's, not a lost race) after which a scheduled job is parked as
    # failed for an operator (GET /v1/jobs?status=failed); about three hours of back-off.
    scheduler_max_attempts: int = Field(default=12, ge=1, le=1000)
    # How often the backlog, Kafka-up and consumer-lag gauges are measured (docs/operations.md).
    kafka_watch_seconds: float = 5.0
    run_consumers: bool = True
    run_relay: bool = True
    run_scheduler: bool = True

    @property
    def is_local(self) -> bool:
        return self.environment == LOCAL

    @model_validator(mode="after")
    def identity_is_configured(self) -> Self:
        """Outside the local stack a service refuses to start without a way to verify tokens,
        naming the variable to set; a secret too short to be safe stops it anywhere."""
        secret = self.jwt_secret.get_secret_value()
        if secret and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
            raise ValueError(
                f"COWORK_JWT_SECRET is {len(secret.encode())} bytes: an HS256 secret needs at "
                f"least {MIN_JWT_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)")
        if secret:
            return self
        if self.is_local:
            self.jwt_secret = SecretStr(LOCAL_DEV_JWT_SECRET)
            return self
        if self.oidc_issuer:
            return self
        raise ValueError(
            "COWORK_JWT_SECRET is not set (or COWORK_OIDC_ISSUER for an OpenID Connect "
            f"provider): the {self.environment!r} environment has no development secret; "
            "set it, or COWORK_ENV=local on a developer's machine")

    def topic(self, logical_name: str) -> str:
        """The physical topic name (a prefix isolates test runs sharing one broker)."""
        return f"{self.topic_prefix}{logical_name}"


class ClientLimitedSettings(ServiceSettings):
    """The settings of a service that limits anonymous requests per client (membership's
    self-registration, community's meeting registration): the window, the digests' key and
    the proxies believed (cowork.shared.registration_limits). `limit_purpose` keeps one
    service's counters from saying anything about another's."""

    limit_purpose: ClassVar[str] = "cowork.membership.registration-limits"
    registration_limit_per_client: int = Field(default=30, ge=1)
    registration_limit_window_seconds: int = Field(default=3600, ge=1)
    # The key of the counters' digests (unset: derived from COWORK_JWT_SECRET; with neither,
    # a random key per process, so each replica counts on its own).
    registration_limit_key: SecretStr = SecretStr("")
    # Proxies (CIDRs) whose X-Forwarded-For is believed: the ingress controller's addresses.
    # Empty: the TCP peer is the client (a header anyone can write is never believed).
    trusted_proxies: list[str] = Field(default_factory=list)
    _limit_key: bytes = PrivateAttr(default=b"")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        registration_limits.trusted_networks(value)  # a ValueError names the bad entry
        return value

    @property
    def limit_key(self) -> bytes:
        """The digests' key, made once (a random one stays the same for this process)."""
        if not self._limit_key:
            secret = (self.registration_limit_key.get_secret_value()
                      or self.jwt_secret.get_secret_value() or secrets.token_hex(32))
            self._limit_key = registration_limits.limit_key(secret, self.limit_purpose)
        return self._limit_key
