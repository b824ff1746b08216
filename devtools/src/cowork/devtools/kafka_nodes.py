"""The nodes of a 3-broker Kafka cluster, as the fault tests (tests/test_kafka_cluster.py) stop
and start them, whichever way the cluster runs:

- processes (`make test-cluster`: `cowork-devstack up --brokers 3`, then
  `COWORK_TEST_INFRA=external` with its stack.env): cowork.devstack.cluster;
- containers (`COWORK_TEST_INFRA=containers COWORK_KAFKA_BROKERS=3`): the cluster
  `running_infra` started, cowork.devtools.kafka_containers.KafkaClusterContainers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from cowork.devstack import cluster
from cowork.devstack.stack import StackConfig
from cowork.devtools import Infra


class KafkaNodes(Protocol):
    """Node ids are 1..n; `hard` is SIGKILL of the broker (a crashed machine)."""

    @property
    def node_ids(self) -> list[int]: ...

    def stop_node(self, node_id: int, *, hard: bool = False) -> None: ...

    def start_node(self, node_id: int) -> None: ...

    def start_all(self) -> None: ...

    def wait_until_whole(self, timeout: float = 120.0) -> None: ...

    def active_controller(self) -> tuple[int, int] | None:
        """(leader id, epoch) of the controller quorum, None while no node knows one."""
        ...


class ProcessNodes:
    """The local-process cluster of `cowork-devstack up --brokers N` (cowork.devstack.cluster)."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg

    @property
    def node_ids(self) -> list[int]:
        return list(range(1, self.cfg.brokers + 1))

    def stop_node(self, node_id: int, *, hard: bool = False) -> None:
        cluster.stop_node(cluster.node(self.cfg, node_id), hard=hard)

    def start_node(self, node_id: int) -> None:
        cluster.start_node(self.cfg, cluster.node(self.cfg, node_id))

    def start_all(self) -> None:
        cluster.start(self.cfg)

    def wait_until_whole(self, timeout: float = 120.0) -> None:
        cluster.wait_until_whole(self.cfg, timeout)

    def active_controller(self) -> tuple[int, int] | None:
        return cluster.active_controller(self.cfg)


def kafka_nodes(infra: Infra) -> tuple[KafkaNodes, Path]:
    """The cluster's nodes and the file its recovery times are appended to
    (COWORK_CLUSTER_RECOVERY_FILE, else `<state>/recovery.txt` of the process cluster, else
    `.devstack/recovery-containers.txt` under the current folder)."""
    chosen = os.environ.get("COWORK_CLUSTER_RECOVERY_FILE")
    if infra.kafka_nodes is not None:
        nodes: KafkaNodes = infra.kafka_nodes
        return nodes, Path(chosen or Path.cwd() / ".devstack" / "recovery-containers.txt")
    cfg = StackConfig.from_env()
    if cfg.brokers < 3 or cfg.kafka_bootstrap != infra.kafka_bootstrap:
        raise RuntimeError(
            "the cluster tests need three brokers: run `make test-cluster` (processes), or "
            "COWORK_TEST_INFRA=containers COWORK_KAFKA_BROKERS=3 (containers), or source the "
            "stack.env of `cowork-devstack up --brokers 3` with COWORK_TEST_INFRA=external")
    return ProcessNodes(cfg), Path(chosen or cfg.state_dir / "recovery.txt")
