"""Prometheus metrics every service exposes on /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_LATENCY = Histogram(
    "cowork_http_request_seconds", "HTTP request latency",
    ["service", "method", "route", "status"],
)
HANDLER_LATENCY = Histogram(
    "cowork_event_handler_seconds", "Time to apply one event (or one batch) in its transaction",
    ["service", "consumer"],
)
EVENTS_APPLIED = Counter(
    "cowork_events_applied_total", "Events applied by a consumer", ["service", "consumer", "type"],
)
EVENTS_DUPLICATE = Counter(
    "cowork_events_duplicate_total", "Events ignored because the inbox had them",
    ["service", "consumer"],
)
EVENTS_STALE = Counter(
    "cowork_events_stale_total",
    "Events not applied because the consumer had applied a newer one of their key",
    ["service", "consumer"],
)
EVENTS_PARKED = Counter(
    "cowork_events_parked_total", "Records parked behind their key's dead letter",
    ["service", "consumer"],
)
PARKED_RECORDS = Gauge(
    "cowork_consumer_parked_records", "Records parked now, waiting for a dead letter's key",
    ["service", "consumer"],
)
HELD_KEYS = Gauge(
    "cowork_consumer_held_keys", "Keys held by a record in the dead-letter topic",
    ["service", "consumer"],
)
DLQ_TOTAL = Counter(
    "cowork_dlq_records_total", "Records sent to the dead-letter topic", ["service", "consumer"],
)
CONSUMER_LAG = Gauge(
    "cowork_consumer_lag", "Records not yet consumed", ["service", "consumer", "topic", "partition"],
)
OUTBOX_BACKLOG = Gauge("cowork_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge("cowork_outbox_oldest_pending_seconds",
                          "Age of the oldest outbox row not yet published (0 when none)",
                          ["service"])
KAFKA_UP = Gauge("cowork_kafka_up", "1 when this service's last Kafka sample answered",
                 ["service"])
OUTBOX_PUBLISHED = Counter("cowork_outbox_published_total", "Outbox rows published", ["service"])
OUTBOX_RELAY_LEADING = Gauge("cowork_outbox_relay_leading",
                             "1 on the replica whose relay publishes the outbox, 0 on standbys",
                             ["service"])
OUTBOX_PARKED = Counter("cowork_outbox_parked_total",
                        "Outbox rows Kafka refused for good, set aside", ["service"])
OUTBOX_PUBLISH_SECONDS = Histogram(
    "cowork_outbox_publish_batch_seconds", "Time to publish one outbox batch", ["service"],
)
SCHEDULED_JOBS_RUN = Counter(
    "cowork_scheduled_jobs_total",
    "Scheduled jobs run, by outcome (done, deferred, failed, parked: failed for good)",
    ["service", "kind", "outcome"],
)
SCHEDULED_JOBS_FAILED = Gauge(
    "cowork_scheduled_jobs_failed",
    "Scheduled jobs parked as failed, waiting for an operator (GET /v1/jobs?status=failed)",
    ["service", "job"],
)
SCHEDULED_JOBS_OVERDUE = Gauge(
    "cowork_scheduled_jobs_overdue_seconds",
    "How long the oldest due scheduled job (not parked) has waited past its due time",
    ["service", "job"],
)
PURGED_ROWS = Counter(
    "cowork_purged_rows_total", "Rows deleted by retention, per table", ["service", "table"],
)
CONSUMER_POSITION_LOST = Gauge(
    "cowork_consumer_position_lost",
    "1 while a partition is stopped because the consumer's stored position is older than the "
    "topic's earliest offset (retention passed it; docs/operations.md, restores)",
    ["service", "consumer", "topic", "partition"],
)
