"""Several Kafka nodes (KRaft) as local processes: `cowork-devstack up --brokers 3`.

Each node is broker and controller at once and one voter of a static quorum, so the cluster
survives the loss of any one node, as an operator's three-broker cluster does. Node n (1-based)
listens on `kafka_port + 2(n-1)` and its controller one above; its files are in
`<state>/kafka/node-<n>/`. The fault tests (tests/test_kafka_cluster.py) stop and start single
nodes through this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cowork.devstack.stack import (
    StackConfig,
    StackError,
    _java_cmd,
    _kafka_cluster_id,
    _kafka_dir,
    _port_open,
    _read_pid,
    kafka_server_properties,
    resolve_kafka_jars,
)


@dataclass(frozen=True)
class Node:
    node_id: int
    port: int
    controller_port: int
    folder: Path

    @property
    def pid_file(self) -> Path:
        return self.folder / "kafka.pid"

    @property
    def log(self) -> Path:
        return self.folder / "kafka.log"

    @property
    def data(self) -> Path:
        return self.folder / "data"


def nodes(cfg: StackConfig) -> list[Node]:
    return [Node(n, cfg.kafka_port + 2 * (n - 1), cfg.kafka_port + 2 * (n - 1) + 1,
                 _kafka_dir(cfg) / f"node-{n}") for n in range(1, cfg.brokers + 1)]


def node(cfg: StackConfig, node_id: int) -> Node:
    return nodes(cfg)[node_id - 1]


def _voters(cfg: StackConfig) -> str:
    return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes(cfg))


def _cluster_id(cfg: StackConfig, libs: Path) -> str:
    """One id for every node, drawn once and kept beside them."""
    stored = _kafka_dir(cfg) / "cluster-id"
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(_kafka_cluster_id(cfg, libs))
    return stored.read_text().strip()


def start_node(cfg: StackConfig, target: Node) -> None:
    """Start one node (formatting its storage the first time); nothing if it runs already."""
    if _read_pid(target.pid_file) is not None:
        return
    if _port_open(target.port):
        raise StackError(f"kafka node {target.node_id}: port {target.port} is taken by another "
                         "process (use another COWORK_KAFKA_PORT or COWORK_STATE_DIR)")
    libs = resolve_kafka_jars(cfg)
    target.folder.mkdir(parents=True, exist_ok=True)
    props = target.folder / "server.properties"
    props.write_text(kafka_server_properties(
        str(target.port), str(target.controller_port), str(target.data), node_id=target.node_id,
        voters=_voters(cfg), replicas=min(cfg.brokers, 3)))
    if not (target.data / "meta.properties").exists():
        result = subprocess.run(
            _java_cmd(cfg, libs, "kafka.tools.StorageTool", "format",
                      "-t", _cluster_id(cfg, libs), "-c", str(props)),
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"kafka node {target.node_id}: storage format failed:\n"
                             f"{result.stdout}\n{result.stderr}")
    with open(target.log, "ab") as log:
        proc = subprocess.Popen(
            _java_cmd(cfg, libs, "kafka.Kafka", str(props)),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    target.pid_file.write_text(str(proc.pid))


def start(cfg: StackConfig) -> None:
    for each in nodes(cfg):
        start_node(cfg, each)


def running(target: Node) -> bool:
    return _read_pid(target.pid_file) is not None


def stop_node(target: Node, *, hard: bool = False) -> None:
    """SIGTERM (a clean shutdown) or SIGKILL (`hard`: no shutdown, as a crashed machine)."""
    pid = _read_pid(target.pid_file)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _read_pid(target.pid_file) is not None:
        time.sleep(0.1)
    if _read_pid(target.pid_file) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    target.pid_file.unlink(missing_ok=True)


def stop(cfg: StackConfig) -> None:
    """Stop every node found in the state folder (however many `cfg.brokers` says)."""
    for folder in sorted(_kafka_dir(cfg).glob("node-*")):
        stop_node(Node(int(folder.name.split("-")[1]), 0, 0, folder))


async def live_brokers(bootstrap: str) -> set[int]:
    """The node ids the cluster's metadata lists as brokers now (empty: no answer)."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected here
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return {b.nodeId for b in admin._client.cluster.brokers()}
    except Exception:
        return set()
    finally:
        with contextlib.suppress(Exception):
            await admin.close()



async def every_node_lists(addresses: list[str], wanted: set[int]) -> bool:
    """Each address, asked on its own, answers with metadata listing every wanted node."""
    found = await asyncio.gather(*(live_brokers(address) for address in addresses))
    return all(brokers >= wanted for brokers in found)

def wait_until_whole(cfg: StackConfig, timeout: float = 120.0) -> None:
    """Ready means every node answers on its own port and lists every node as a broker; not
    an open port, nor the metadata alone (without a controller quorum it is not updated, so it
    keeps listing killed nodes)."""
    wanted = {n.node_id for n in nodes(cfg)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(every_node_lists(cfg.kafka_bootstrap.split(","), wanted)):
            return
        for each in nodes(cfg):
            if not running(each):
                raise StackError(f"kafka node {each.node_id} exited; see {each.log}")
        time.sleep(0.5)
    raise StackError(f"the kafka cluster did not form within {timeout}s; see "
                     f"{_kafka_dir(cfg)}/node-*/kafka.log")


def active_controller(cfg: StackConfig) -> tuple[int, int] | None:
    """The quorum's leader and its epoch as the running nodes last recorded them.

    A node writes `quorum-state` only when its view changes (a node restarted under the same
    leader keeps an old file), so the highest epoch is the current election."""
    best: tuple[int, int] | None = None
    for each in nodes(cfg):
        if not running(each):
            continue
        try:
            state = json.loads((each.data / "__cluster_metadata-0" / "quorum-state").read_text())
        except (OSError, ValueError):
            continue
        leader, epoch = int(state.get("leaderId", -1)), int(state.get("leaderEpoch", -1))
        if leader >= 0 and (best is None or epoch > best[1]):
            best = (leader, epoch)
    return best
