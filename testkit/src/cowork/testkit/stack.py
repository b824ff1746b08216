"""The whole of Cowork in containers: infrastructure, then each service migrated and serving."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt

from cowork.testkit.containers import (
    ContainersUnavailable,
    InfraContainers,
    SmtpSink,
    _host_network_container,
    _logs,
    free_ports,
    require_images,
)

SERVICES_IMAGE = os.environ.get("COWORK_IMAGE", "cowork:dev")
# Cowork's services, as cowork.shared.auth.SERVICE_AUDIENCES names them (the testkit does not
# import Cowork's code: a partner's environment has only this package; tests/test_helm_chart.py
# checks the two lists agree).
SERVICES = ("membership", "booking", "vouchers", "notifications", "community")
# Where each service's events go (docs/events.md): the type's second word names the service.
# The compacted contacts topics carry the personal data the mails need.
EVENT_TOPICS = (*(f"cowork.{name}.events" for name in SERVICES), "cowork.membership.contacts",
                "cowork.community.contacts")


@dataclass(frozen=True)
class ReceivedEvent:
    """One CloudEvent as read from Kafka."""

    topic: str
    key: str | None
    headers: dict[str, str]
    data: dict[str, Any] | None

    @property
    def id(self) -> str:
        return self.headers["ce_id"]

    @property
    def type(self) -> str:
        return self.headers["ce_type"]


@dataclass
class CoworkStack:
    infra: InfraContainers
    jwt_secret: str
    ports: dict[str, int] = field(default_factory=dict)
    issuer: str = "cowork"
    started: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    mail: SmtpSink | None = None  # with the notifications service: where its mail goes
    # A Fernet key (urlsafe base64 of 32 bytes) for the webhooks' secrets at rest.
    webhook_secret_key: str = field(
        default_factory=lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())

    @property
    def kafka_bootstrap(self) -> str:
        return self.infra.kafka_bootstrap

    def mails(self) -> list[Any]:
        """The messages the notifications service sent (parsed EmailMessages), oldest first."""
        if self.mail is None:
            raise RuntimeError("this stack runs no notifications service, so it sends no mail")
        return self.mail.messages()

    @property
    def services(self) -> tuple[str, ...]:
        return tuple(self.ports)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def token(self, role: str, *, sub: str | None = None, hours: float = 1.0) -> str:
        """A JWT the stack's services accept (HS256 with the stack's own secret)."""
        now = datetime.now(UTC)
        # `aud`: every service of Cowork (each service accepts only tokens naming it).
        claims = {"sub": sub or f"{role}-{uuid.uuid4().hex[:8]}", "roles": [role], "iat": now,
                  "exp": now + timedelta(hours=hours), "iss": self.issuer,
                  "aud": list(SERVICES)}
        return jwt.encode(claims, self.jwt_secret, algorithm="HS256")

    def http(self, service: str, *, role: str | None = "staff", sub: str | None = None
             ) -> httpx.Client:
        """An HTTP client for one service, with a bearer token of `role` (None: no token)."""
        headers = {"Authorization": f"Bearer {self.token(role, sub=sub)}"} if role else {}
        return httpx.Client(base_url=self.url(service), headers=headers, timeout=10)

    # ------------------------------------------------------------------ events

    def publish(self, event_type: str, key: str, data: dict[str, Any], *,
                topic: str | None = None, event_id: str | None = None,
                source: str = "/partner/testkit") -> str:
        """Publish one CloudEvent (binary mode) as Cowork would; returns its id."""
        event_id = event_id or str(uuid.uuid4())
        topic = topic or f"cowork.{event_type.split('.')[1]}.events"
        headers = {
            "ce_specversion": "1.0", "ce_id": event_id, "ce_source": source, "ce_type": event_type,
            "ce_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "ce_subject": key,
            "content-type": "application/json",
        }

        async def send() -> None:
            from aiokafka import AIOKafkaProducer

            producer = AIOKafkaProducer(bootstrap_servers=self.kafka_bootstrap, acks="all")
            await producer.start()
            try:
                await producer.send_and_wait(
                    topic, json.dumps(data).encode(), key=key.encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()])
            finally:
                await producer.stop()

        asyncio.run(send())
        return event_id

    def wait_for(self, event_type: str, *, key: str | None = None, timeout: float = 30.0,
                 topics: tuple[str, ...] = EVENT_TOPICS) -> ReceivedEvent:
        """The first record of `event_type` (and `key`) on Cowork's topics, from their start."""

        async def find() -> ReceivedEvent:
            from aiokafka import AIOKafkaConsumer

            consumer = AIOKafkaConsumer(bootstrap_servers=self.kafka_bootstrap,
                                        auto_offset_reset="earliest", enable_auto_commit=False,
                                        group_id=None)
            await consumer.start()
            try:
                existing = await consumer.topics()
                wanted = [t for t in topics if t in existing]
                deadline = time.monotonic() + timeout
                while not wanted and time.monotonic() < deadline:
                    await asyncio.sleep(0.5)
                    await consumer._client.force_metadata_update()
                    wanted = [t for t in topics if t in await consumer.topics()]
                consumer.subscribe(wanted)
                while time.monotonic() < deadline:
                    batches = await consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        for record in records:
                            event = _received(record)
                            if event.headers.get("ce_type") == event_type and \
                                    (key is None or event.key == key):
                                return event
            finally:
                await consumer.stop()
            raise TimeoutError(f"no {event_type} (key {key}) on {list(topics)} within {timeout} s")

        return asyncio.run(find())

    def stop(self) -> None:
        while self.started:
            container = self.started.pop()
            with contextlib.suppress(Exception):
                container.stop()
        if self.mail is not None:
            self.mail.stop()
        self.infra.stop()


def _received(record: Any) -> ReceivedEvent:
    headers = {k: v.decode() for k, v in (record.headers or ()) if v is not None}
    return ReceivedEvent(topic=record.topic,
                         key=record.key.decode() if record.key is not None else None,
                         headers=headers,
                         data=json.loads(record.value) if record.value is not None else None)


def _services_in_image() -> tuple[str, ...]:
    """The services the image can run (`python -m cowork.<name>`): the services as
    they land — a package without its `__main__` is not a service yet."""
    import docker

    from cowork.testkit.containers import docker_host

    client = docker.DockerClient(base_url=docker_host())
    try:
        probe = ("import importlib.util as u; print(' '.join(s for s in %r "
                 "if u.find_spec('cowork.' + s) and u.find_spec('cowork.' + s + '.__main__')))")
        output = client.containers.run(SERVICES_IMAGE, ["python", "-c", probe % (SERVICES,)],
                                       remove=True, network_mode="host")
    finally:
        client.close()
    return tuple(output.decode().split())


def _service_env(stack: CoworkStack, service: str, port: int) -> dict[str, str]:
    prefix = service.upper()
    return {
        f"{prefix}_HTTP_HOST": "127.0.0.1", f"{prefix}_HTTP_PORT": str(port),
        f"{prefix}_DATABASE_URL": stack.infra.database_url(f"cowork_{service}"),
        f"{prefix}_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        f"{prefix}_OUTBOX_POLL_SECONDS": "0.2", f"{prefix}_SCHEDULER_POLL_SECONDS": "1",
        f"{prefix}_LOG_JSON": "true",
        "COWORK_JWT_SECRET": stack.jwt_secret, "COWORK_JWT_ISSUER": stack.issuer,
        # A stack on the partner's machine: its SMTP sink speaks plain SMTP, which only the
        # local environment allows (NOTIFICATIONS_SMTP_TLS=none).
        "COWORK_ENV": "local",
        "COWORK_TOPIC_PARTITIONS": "1",  # one partition: order is total, tests read less
        **({f"{prefix}_SMTP_HOST": "127.0.0.1", f"{prefix}_SMTP_PORT": str(stack.mail.port)}
           if service == "notifications" and stack.mail is not None else {}),
        # The links in community's mails (confirm, cancel) lead back to this stack.
        **({f"{prefix}_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
           if service == "community" else {}),
        # The webhooks' signing secrets are encrypted at rest: a key for this stack's life.
        **({"NOTIFICATIONS_WEBHOOK_SECRET_KEYS": stack.webhook_secret_key}
           if service == "notifications" else {}),
    }


def _wait_ready(url: str, container: Any, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        container.reload()
        if container.status not in ("created", "running"):
            raise ContainersUnavailable(f"{url} exited:\n{_logs(container)}")
        time.sleep(0.3)
    raise ContainersUnavailable(f"{url}/readyz did not answer 200 within {timeout:.0f} s")


@contextlib.contextmanager
def start_stack(services: tuple[str, ...] | None = None) -> Iterator[CoworkStack]:
    """Start Kafka, PostgreSQL and the services (all the image holds, or those named)."""
    began = time.monotonic()
    require_images(SERVICES_IMAGE)
    chosen = services or _services_in_image()
    infra = InfraContainers(databases=tuple(f"cowork_{s}" for s in chosen))
    stack = CoworkStack(infra=infra, jwt_secret=secrets.token_urlsafe(48))
    try:
        infra.start()
        stack.timings.update(infra.timings)
        if "notifications" in chosen:
            stack.mail = SmtpSink().start()
        ports = free_ports(len(chosen))
        for service, port in zip(chosen, ports, strict=True):
            container = _host_network_container(
                SERVICES_IMAGE, _service_env(stack, service, port), service)
            container.with_command(["python", "-m", f"cowork.{service}", "serve"])
            container.start()
            stack.started.append(container)
            stack.ports[service] = port
        for service in chosen:  # started together, awaited in turn
            _wait_ready(stack.url(service), stack.started[chosen.index(service)])
        stack.timings["stack_ready_s"] = round(time.monotonic() - began, 1)
        yield stack
    finally:
        stack.stop()
