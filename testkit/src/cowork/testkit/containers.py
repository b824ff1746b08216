"""Kafka and PostgreSQL in containers, for the partner testkit and `COWORK_TEST_INFRA=containers`.

The images are the ones `make images` builds locally (deploy/images: `cowork-kafka:dev`, KRaft
from the same Maven jars as the local stack; `cowork-postgres:dev`, Debian's PostgreSQL with
btree_gist). testcontainers starts them with its generic `DockerContainer` and wait strategies
(its Kafka module only knows Confluent's images). What these machines need of it
(docs/deploy.md, "Containers"):

- host networking only — no bridge networks exist — so each container gets its own free ports
  on 127.0.0.1 through its environment, and reports 127.0.0.1 and the container port itself
  (testcontainers' port mapping is incompatible with host networking, and it believes it runs
  inside a container because of /.dockerenv);
- no Ryuk (it cannot run with host networking): containers are removed when the session ends,
  and leftovers of sessions whose process died are removed at the next start, by label;
- local images only: a missing image fails at once, saying to run `make images`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")

KAFKA_IMAGE = os.environ.get("COWORK_KAFKA_IMAGE", "cowork-kafka:dev")
SMTP_SINK_IMAGE = os.environ.get("COWORK_SMTP_SINK_IMAGE", "cowork-smtp-sink:dev")
POSTGRES_IMAGE = os.environ.get("COWORK_POSTGRES_IMAGE", "cowork-postgres:dev")
OWNER_LABEL = "org.cowork.owner-pid"  # the process that started it, to find leftovers


class ContainersUnavailable(RuntimeError):
    """No Docker engine answers, or an image is missing; the message says what to do."""


def docker_host() -> str:
    """DOCKER_HOST, else the engine `make images` starts (<repo>/.devstack/docker/docker.sock)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for folder in [Path.cwd(), *Path.cwd().parents]:
        sock = folder / ".devstack" / "docker" / "docker.sock"
        if sock.exists():
            return f"unix://{sock}"
    return "unix:///var/run/docker.sock"


def _host_network_container(image: str, env: dict[str, str], name: str) -> Any:
    from testcontainers.core.container import DockerContainer

    class HostNetworkContainer(DockerContainer):
        """On the host's network: no port bindings; the host is 127.0.0.1 and a container port
        is the host port."""

        def get_container_host_ip(self) -> str:
            return "127.0.0.1"

        def get_exposed_port(self, port: int) -> int:
            return port

    # testcontainers' client reads DOCKER_HOST (from_env); point it at the engine found here.
    os.environ["DOCKER_HOST"] = docker_host()
    container = HostNetworkContainer(
        image, env=env,
        network_mode="host", labels={OWNER_LABEL: str(os.getpid()), "org.cowork.role": name},
    )
    container.ports.clear()
    return container


def _docker_client() -> Any:
    import docker

    try:
        client = docker.DockerClient(base_url=docker_host())
        client.ping()
    except Exception as exc:
        raise ContainersUnavailable(
            f"no Docker engine answers at {docker_host()}: run `make images` (it starts one "
            "without networks and builds the images), or set DOCKER_HOST") from exc
    return client


def require_images(*images: str) -> None:
    import docker

    client = _docker_client()
    try:
        for image in images:
            try:
                client.images.get(image)
            except docker.errors.ImageNotFound as exc:
                raise ContainersUnavailable(
                    f"image {image} is missing: run `make images` (no registry is used)") from exc
    finally:
        client.close()


def remove_leftovers() -> None:
    """Remove containers started by processes that no longer exist (a killed test session)."""
    client = _docker_client()
    try:
        for container in client.containers.list(all=True, filters={"label": OWNER_LABEL}):
            pid = int(container.labels.get(OWNER_LABEL, "0"))
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                container.remove(force=True)
            except PermissionError:
                pass  # alive, someone else's
    finally:
        client.close()


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports nothing listens on now."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


async def _kafka_answers(bootstrap: str) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()


async def _postgres_answers(url: str) -> bool:
    import asyncpg

    try:
        conn = await asyncpg.connect(url, timeout=3)
    except Exception:
        return False
    await conn.close()
    return True


def _until(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(check()):
            return
        time.sleep(0.3)
    raise ContainersUnavailable(f"{what} did not answer within {timeout:.0f} s")


def _logs(container: Any, tail: int = 3000) -> str:
    """The end of a container's output, for an error message."""
    try:
        stdout, stderr = container.get_logs()
    except Exception:
        return "(no logs)"
    return (stdout + stderr).decode(errors="replace")[-tail:]


@dataclass
class InfraContainers:
    """A Kafka broker and a PostgreSQL server, each in its container, on free ports; PostgreSQL
    alone without `with_kafka` (Cowork's fault tests start a Kafka cluster beside it,
    cowork.devtools.kafka_containers)."""

    kafka_port: int = 0
    pg_port: int = 0
    databases: tuple[str, ...] = ()
    kafka_heap: str = "512m"
    with_kafka: bool = True
    started: list[Any] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def database_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    @property
    def postgres_container_id(self) -> str | None:
        """The PostgreSQL container (started first), for `docker exec` of its own pg_dump and
        pg_restore; None before `start`."""
        if not self.started:
            return None
        return str(self.started[0].get_wrapped_container().id)

    def start(self) -> InfraContainers:
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        require_images(KAFKA_IMAGE, POSTGRES_IMAGE)
        remove_leftovers()
        kafka_port, controller_port, pg_port = free_ports(3)
        self.kafka_port = self.kafka_port or kafka_port
        self.pg_port = self.pg_port or pg_port
        began = time.monotonic()
        postgres = _host_network_container(POSTGRES_IMAGE, {
            "PGPORT": str(self.pg_port), "POSTGRES_DATABASES": " ".join(self.databases)},
            "postgres")
        # With databases to create, the server starts twice: the second message is the real one.
        postgres.waiting_for(LogMessageWaitStrategy(
            "database system is ready to accept connections", times=2 if self.databases else 1)
            .with_startup_timeout(60))
        kafka = _host_network_container(KAFKA_IMAGE, {
            "KAFKA_PORT": str(self.kafka_port), "KAFKA_CONTROLLER_PORT": str(controller_port),
            "KAFKA_HEAP": self.kafka_heap}, "kafka")
        kafka.waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(120))
        try:
            brokers = [("kafka", kafka)] if self.with_kafka else []
            for name, container in [("postgres", postgres), *brokers]:
                self.started.append(container)
                try:
                    container.start()
                except Exception as exc:
                    raise ContainersUnavailable(
                        f"{name} ({container.image}) did not start: {exc}\n"
                        f"{_logs(container)}") from exc
                self.timings[f"{name}_started_s"] = round(time.monotonic() - began, 1)
            # Ready means a client's request succeeds, not only a line in a log.
            _until(lambda: _postgres_answers(self.database_url()), "PostgreSQL", 30)
            if self.with_kafka:
                _until(lambda: _kafka_answers(self.kafka_bootstrap), "Kafka", 60)
        except BaseException:
            self.stop()
            raise
        self.timings["ready_s"] = round(time.monotonic() - began, 1)
        return self

    def stop(self) -> None:
        while self.started:
            container = self.started.pop()
            with contextlib.suppress(Exception):
                container.stop()


@dataclass
class SmtpSink:
    """The SMTP sink image: every message it accepts lands in a Maildir on this machine."""

    port: int = 0
    folder: Path | None = None
    container: Any = None

    def start(self) -> SmtpSink:
        import socket
        import tempfile

        require_images(SMTP_SINK_IMAGE)
        self.port = self.port or free_ports(1)[0]
        self.folder = Path(tempfile.mkdtemp(prefix="cowork-mail-"))
        # A Maildir's three folders, writable by the sink's user in its image (uid 10003):
        # aiosmtpd's Mailbox creates them only when the Maildir itself does not exist yet.
        for folder in (self.folder, *(self.folder / sub for sub in ("tmp", "new", "cur"))):
            folder.mkdir(exist_ok=True)
            if os.geteuid() == 0:
                os.chown(folder, 10003, 10003)
            else:
                folder.chmod(0o777)
        self.container = _host_network_container(SMTP_SINK_IMAGE, {"SMTP_PORT": str(self.port)},
                                                 "smtp-sink")
        self.container.with_volume_mapping(str(self.folder), "/var/mail/sink", "rw")
        self.container.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.2)
        raise ContainersUnavailable(f"the SMTP sink did not listen:\n{_logs(self.container)}")

    def messages(self) -> list[Any]:
        """Every message received so far, parsed (email.message.EmailMessage)."""
        import mailbox
        from email import message_from_bytes, policy

        assert self.folder is not None, "the sink is not started"
        box = mailbox.Maildir(self.folder, create=False)
        return [message_from_bytes(box.get_bytes(key), policy=policy.default)
                for key in sorted(box.keys())]

    def stop(self) -> None:
        import shutil

        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.stop()
            self.container = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def infra_containers(databases: tuple[str, ...] = (), *, with_kafka: bool = True
                     ) -> Iterator[InfraContainers]:
    containers = InfraContainers(databases=databases, with_kafka=with_kafka).start()
    try:
        yield containers
    finally:
        containers.stop()
