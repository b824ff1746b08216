"""The configuration reference of docs/deploy.md, generated from the services' settings classes.

Every variable a service reads comes from its pydantic-settings class (one per service, each
with its prefix; the `COWORK_*` ones are shared). This module lists them with their type and
default, what each means and which Helm value sets it, and writes the result between two marker
lines of docs/deploy.md. tests/test_deploy_docs.py fails when the committed text differs from
what the classes give today, so the reference cannot go stale:

    uv run cowork-devstack config-reference          # print it
    uv run cowork-devstack config-reference --write  # update docs/deploy.md
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

START = "<!-- config-reference:start (generated: uv run cowork-devstack config-reference --write) -->"
END = "<!-- config-reference:end -->"

# What each setting of the shared base class means. A service's own setting may say it with
# Field(description=...); otherwise its service's doc (docs/<service>.md) does.
MEANINGS = {
    "service_name": "name in logs, metrics, the CloudEvents source and the consumer groups; leave it",
    "database_url": "the service's own PostgreSQL database (a secret)",
    "db_pool_min": "connections kept open to the database",
    "db_pool_max": "most connections per replica (replicas times this must fit the server's max_connections)",
    "kafka_bootstrap": "Kafka's bootstrap servers, comma-separated",
    "topic_prefix": "prefixes every topic name, so installations can share a cluster",
    "topic_partitions": "partitions of a topic the service creates (bounds consumer replicas)",
    "topic_replication_factor": ("replication factor of a topic it creates; "
                                 "0: 3 on three brokers or more, else 1"),
    "topic_config": "topic-level configs (JSON object) for the topics it creates",
    "jwt_secret": ("HS256 secret every token is verified with, at least 32 bytes "
                   "(a secret; the default is public)"),
    "jwt_issuer": "the `iss` every token must carry",
    "http_host": "address the HTTP server binds",
    "http_port": "port the HTTP server listens on",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "log_json": "JSON lines on stdout (false: readable text, for a terminal)",
    "outbox_batch_size": "events the relay publishes per batch",
    "outbox_poll_seconds": "how often the relay looks for new events; also how soon a standby takes over",
    "outbox_retention_hours": "how long published outbox rows are kept (to investigate)",
    "consumer_max_attempts": "attempts at applying an event before it goes to the DLQ",
    "consumer_retry_base_seconds": "first retry delay (doubling each attempt)",
    "consumer_retry_max_seconds": "longest retry delay",
    "consumer_batch_size": "records a consumer applies per transaction at most",
    "scheduler_poll_seconds": "how often the durable scheduler looks for due jobs",
    "scheduler_max_attempts": "failures (not transient) after which a scheduled job is parked "
                              "as failed for an operator (`GET /v1/jobs?status=failed`)",
    "run_consumers": "run the event consumers in this process",
    "run_relay": "run the outbox relay in this process",
    "run_scheduler": "run the scheduled jobs in this process",
    "demo_data": "load the demo data at start (never in production)",
}

# Which chart value sets a variable (services.<name>.env can set every other one).
CHART_VALUES = {
    "database_url": "`services.<name>.database` (Secret)",
    "kafka_bootstrap": "`kafka.bootstrap`",
    "topic_prefix": "`topicPrefix`",
    "topic_partitions": "`topics.partitions`",
    "topic_replication_factor": "`topics.replicationFactor`",
    "topic_config": "`topics.config`",
    "jwt_secret": "`jwt.existingSecret`, `jwt.key` (Secret)",
    "jwt_issuer": "`jwt.issuer`",
    "http_host": "fixed `0.0.0.0`",
    "http_port": "`services.<name>.port`",
    "log_level": "`logLevel`",
    "log_json": "fixed `true`",
    "trusted_proxies": "`trustedProxies`",
}


def repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "services").is_dir() and (parent / "deploy").is_dir():
            return parent
    raise RuntimeError("run this from a Cowork checkout")


def service_settings(root: Path | None = None) -> dict[str, type[Any]]:
    """Each built service's settings class, by service name (services/<name>/.../app.py)."""
    from cowork.shared.settings import ServiceSettings

    root = root or repo_root()
    found: dict[str, type[Any]] = {}
    for app in sorted((root / "services").glob("*/src/cowork/*/app.py")):
        module = importlib.import_module(f"cowork.{app.parent.name}.app")
        [cls] = [c for _, c in inspect.getmembers(module, inspect.isclass)
                 if issubclass(c, ServiceSettings) and c.__module__ == module.__name__]
        found[app.parent.name] = cls
    return found


def variable(settings: type[Any], name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0]).upper()
    return f"{settings.model_config.get('env_prefix', '')}{name}".upper()


def _type(field: FieldInfo) -> str:
    annotation = field.annotation
    if annotation is SecretStr:
        return "secret"
    return getattr(annotation, "__name__", str(annotation)).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return f"`{json.dumps(field.default_factory())}`"  # type: ignore[call-arg]
    value = field.default
    if isinstance(value, SecretStr):
        return "a local development value"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{value}`" if value != "" else '`""`'


def _row(settings: type[Any], name: str, field: FieldInfo, service: str = "<name>") -> str:
    meaning = field.description or MEANINGS.get(name, f"see [docs/{service}.md]({service}.md)")
    chart = CHART_VALUES.get(name, "`services.<name>.env`").replace("<name>", service)
    return (f"| `{variable(settings, name, field)}` | {_type(field)} | {_default(field)} | "
            f"{meaning} | {chart} |")


def render(root: Path | None = None) -> str:
    from cowork.shared.settings import ServiceSettings

    classes = service_settings(root)
    shared_fields = ServiceSettings.model_fields
    header = ["| variable | type | default | what | set by the chart through |",
              "| --- | --- | --- | --- | --- |"]
    lines = [START, "",
             "Every service reads the variables below; `<SERVICE>` is its name in capitals "
             f"({', '.join(f'`{n.upper()}`' for n in classes)}). The `COWORK_*` ones are the same "
             "for every service.", ""]
    shared = [(name, field) for name, field in shared_fields.items() if name != "service_name"]
    lines += header
    for name, field in shared:
        row = _row(ServiceSettings, name, field)
        if not isinstance(field.validation_alias, AliasChoices):
            row = row.replace(f"`COWORK_{name.upper()}`", f"`<SERVICE>_{name.upper()}`", 1)
        lines.append(row)
    for service, cls in classes.items():
        own = [(name, field) for name, field in cls.model_fields.items()
               if name not in shared_fields or field.default != shared_fields[name].default]
        own = [(n, f) for n, f in own if n != "service_name"]
        lines += ["", f"**{service}** ([docs/{service}.md]({service}.md)): its own settings and "
                  "its own defaults", ""]
        lines += header
        lines += [_row(cls, name, field, service) for name, field in own]
    lines += ["", END]
    return "\n".join(lines)


def write(doc: Path, text: str) -> bool:
    """Replace the generated part of `doc`; True when it changed."""
    current = doc.read_text()
    start, end = current.index(START), current.index(END) + len(END)
    updated = current[:start] + text + current[end:]
    if updated == current:
        return False
    doc.write_text(updated)
    return True


def committed(doc: Path) -> str:
    current = doc.read_text()
    return current[current.index(START):current.index(END) + len(END)]
