"""Several Kafka nodes in containers as one KRaft cluster: the containers mode of
`cowork-devstack up --brokers 3` (cowork.devstack.cluster runs the same nodes as processes,
and its readiness check serves both). Development only: partners' tests (cowork.testkit) need
one broker.

Each node is a container of the Kafka image (deploy/images/kafka) on the host's network, broker
and controller at once and one voter of a static quorum, with free ports on 127.0.0.1 and the
cluster id drawn here for all. The fault tests (tests/test_kafka_cluster.py) stop single nodes —
`hard` is `docker kill --signal KILL`, the broker's SIGKILL — and start the same container again,
its log folder kept; the active controller is read from the quorum-state file each node writes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cowork.devstack.cluster import every_node_lists
from cowork.testkit.containers import (
    KAFKA_IMAGE,
    ContainersUnavailable,
    _host_network_container,
    _logs,
    free_ports,
    remove_leftovers,
    require_images,
)

QUORUM_STATE = "/var/lib/kafka/data/__cluster_metadata-0/quorum-state"


def new_cluster_id() -> str:
    """16 random bytes, URL-safe base64 without padding, as Kafka's StorageTool draws them; one
    starting with "-" would read as an option."""
    while True:
        drawn = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not drawn.startswith("-"):
            return drawn


@dataclass
class KafkaClusterContainers:
    """`nodes` Kafka containers (three or more) forming one cluster; node ids are 1..nodes."""

    nodes: int = 3
    heap: str = "512m"
    ports: list[int] = field(default_factory=list)  # broker, controller of node 1, then 2, ...
    cluster_id: str = ""
    containers: dict[int, Any] = field(default_factory=dict)

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.nodes + 1))

    def port(self, node_id: int) -> int:
        return self.ports[2 * (node_id - 1)]

    def controller_port(self, node_id: int) -> int:
        return self.ports[2 * (node_id - 1) + 1]

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port(n)}" for n in self.node_ids)

    def start(self) -> KafkaClusterContainers:
        if self.nodes < 3:
            raise ContainersUnavailable(f"a Kafka cluster has three nodes or more, not {self.nodes}"
                                        " (replication 3, min.insync.replicas 2)")
        require_images(KAFKA_IMAGE)
        remove_leftovers()
        self.ports = free_ports(2 * self.nodes)
        self.cluster_id = self.cluster_id or new_cluster_id()
        voters = ",".join(f"{n}@127.0.0.1:{self.controller_port(n)}" for n in self.node_ids)
        try:
            for n in self.node_ids:
                # No wait strategy per node: a node's broker starts only once a quorum of
                # controllers exists, so the first would wait for the others forever.
                container = _host_network_container(KAFKA_IMAGE, {
                    "KAFKA_PORT": str(self.port(n)),
                    "KAFKA_CONTROLLER_PORT": str(self.controller_port(n)),
                    "KAFKA_NODE_ID": str(n), "KAFKA_VOTERS": voters,
                    "KAFKA_CLUSTER_ID": self.cluster_id, "KAFKA_HEAP": self.heap}, f"kafka-{n}")
                self.containers[n] = container
                container.start()
            self.wait_until_whole()
        except BaseException:
            self.stop()
            raise
        return self

    def _docker(self, node_id: int) -> Any:
        """The docker SDK's container of a node (testcontainers' start creates a new one)."""
        return self.containers[node_id].get_wrapped_container()

    def running(self, node_id: int) -> bool:
        container = self._docker(node_id)
        container.reload()
        return bool(container.status == "running")

    def stop_node(self, node_id: int, *, hard: bool = False) -> None:
        """SIGTERM (a clean shutdown, up to 60 s) or SIGKILL (`hard`: as a crashed machine);
        returns once the container has exited."""
        container = self._docker(node_id)
        if hard:
            with contextlib.suppress(Exception):  # already stopped: nothing to kill
                container.kill(signal="SIGKILL")
        else:
            container.stop(timeout=60)
        deadline = time.monotonic() + 30
        while self.running(node_id):
            if time.monotonic() > deadline:
                raise ContainersUnavailable(f"kafka node {node_id} did not stop")
            time.sleep(0.05)

    def start_node(self, node_id: int) -> None:
        """Start the node's container again, with the log folder it had; nothing if it runs."""
        if not self.running(node_id):
            self._docker(node_id).start()

    def start_all(self) -> None:
        for n in self.node_ids:
            self.start_node(n)

    def wait_until_whole(self, timeout: float = 120.0) -> None:
        """Ready means every node answers on its own port and lists every node as a broker; not
        an open port, nor the metadata alone (without a controller quorum it is not updated, so
        it keeps listing killed nodes)."""
        wanted = set(self.node_ids)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if asyncio.run(every_node_lists(self.bootstrap.split(","), wanted)):
                return
            for n in self.node_ids:
                if not self.running(n):
                    raise ContainersUnavailable(
                        f"kafka node {n} exited:\n{_logs(self.containers[n])}")
            time.sleep(0.5)
        raise ContainersUnavailable(f"the kafka cluster did not form within {timeout:.0f} s:\n"
                                    f"{_logs(self.containers[self.node_ids[0]])}")

    def active_controller(self) -> tuple[int, int] | None:
        """The quorum's leader and its epoch as the running nodes last recorded them.

        A node writes `quorum-state` only when its view changes (a node restarted under the same
        leader keeps an old file), so the highest epoch is the current election."""
        import docker

        best: tuple[int, int] | None = None
        for n in self.node_ids:
            try:
                code, output = self._docker(n).exec_run(["cat", QUORUM_STATE])
            except docker.errors.APIError:  # a stopped container does not exec
                code, output = 1, b""
            state = json.loads(output) if code == 0 else {}
            leader, epoch = int(state.get("leaderId", -1)), int(state.get("leaderEpoch", -1))
            if leader >= 0 and (best is None or epoch > best[1]):
                best = (leader, epoch)
        return best

    def stop(self) -> None:
        """Remove every node's container (testcontainers' stop removes it)."""
        while self.containers:
            _, container = self.containers.popitem()
            with contextlib.suppress(Exception):
                container.stop()


@contextlib.contextmanager
def kafka_cluster_containers(nodes: int = 3) -> Iterator[KafkaClusterContainers]:
    cluster = KafkaClusterContainers(nodes=nodes).start()
    try:
        yield cluster
    finally:
        cluster.stop()
