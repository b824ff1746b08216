"""Run Cowork's services as local processes beside the stack (for `make run`)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cowork.devstack import mailsink
from cowork.devstack.stack import StackConfig, _read_pid


@dataclass(frozen=True)
class LocalService:
    name: str
    port: int

    @property
    def module(self) -> str:
        return f"cowork.{self.name}"

    def installed(self) -> bool:
        return importlib.util.find_spec(self.module) is not None


# The local ports of docs/api/; a service not built yet is simply not started.
SERVICES = (
    LocalService("membership", 8001),
    LocalService("booking", 8002),
    LocalService("vouchers", 8003),
    LocalService("notifications", 8004),
    LocalService("community", 8005),
)


def _folder(cfg: StackConfig) -> Path:
    path = cfg.state_dir / "services"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _environment(cfg: StackConfig, service: LocalService) -> dict[str, str]:
    env = dict(os.environ)
    env.update(cfg.addresses())
    prefix = service.name.upper()
    env.setdefault(f"{prefix}_HTTP_PORT", str(service.port))
    env.setdefault(f"{prefix}_DEMO_DATA", "true")
    env.setdefault(f"{prefix}_LOG_JSON", "true")
    env.setdefault("COWORK_ENV", "local")  # the development JWT secret is allowed here only
    if service.name == "notifications":  # mail goes to the local SMTP sink (mailsink.py)
        env.setdefault("NOTIFICATIONS_SMTP_HOST", "127.0.0.1")
        env.setdefault("NOTIFICATIONS_SMTP_PORT", str(mailsink.port()))
        # The webhooks' signing secrets are encrypted at rest: the local stack's published key
        # (cowork.notifications.secret_box.LOCAL_DEV_SECRET_KEY), refused outside it.
        env.setdefault("NOTIFICATIONS_WEBHOOK_SECRET_KEYS",
                       "Y293b3JrLWxvY2FsLWRldmVsb3BtZW50LWtleS0xMjM=")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start_services(cfg: StackConfig, timeout: float = 90.0) -> list[LocalService]:
    started = []
    for service in SERVICES:
        if not service.installed():
            continue
        if service.name == "notifications":
            mailsink.start(cfg)
        pid_file = _folder(cfg) / f"{service.name}.pid"
        if _read_pid(pid_file) is None:
            log = open(_folder(cfg) / f"{service.name}.log", "ab")
            proc = subprocess.Popen(
                [sys.executable, "-m", service.module, "serve"], env=_environment(cfg, service),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            pid_file.write_text(str(proc.pid))
        started.append(service)
    deadline = time.monotonic() + timeout
    for service in started:
        while not _ready(service.port):
            pid = _read_pid(_folder(cfg) / f"{service.name}.pid")
            if pid is None or time.monotonic() > deadline:
                log = _folder(cfg) / f"{service.name}.log"
                tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
                raise RuntimeError(f"{service.name} did not become ready; see {log}\n{tail}")
            time.sleep(0.5)
    return started


def verify_vouchers(cfg: StackConfig) -> subprocess.CompletedProcess[str] | None:
    """The auditor's verify (`cowork-vouchers verify`) on the vouchers database, once the
    demo data is loaded: a demo whose money does not add up is shown, never hidden. None when
    the vouchers service is not installed."""
    vouchers = next(s for s in SERVICES if s.name == "vouchers")
    if not vouchers.installed():
        return None
    return subprocess.run([sys.executable, "-m", vouchers.module, "verify"],
                          env=_environment(cfg, vouchers), capture_output=True, text=True,
                          timeout=300, check=False)


def status(cfg: StackConfig) -> dict[str, str]:
    """Each installed service: `up` (its /readyz answers), `starting` (its process runs, not
    ready yet) or `down`."""
    found = {}
    for service in SERVICES:
        if not service.installed():
            continue
        if _ready(service.port):
            found[service.name] = "up"
        elif _read_pid(cfg.state_dir / "services" / f"{service.name}.pid") is not None:
            found[service.name] = "starting"
        else:
            found[service.name] = "down"
    return found


def stop_services(cfg: StackConfig) -> None:
    mailsink.stop(cfg)
    for service in SERVICES:
        pid_file = _folder(cfg) / f"{service.name}.pid"
        pid = _read_pid(pid_file)
        if pid is None:
            pid_file.unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)  # graceful: finish in-flight work, commit, close
        deadline = time.monotonic() + 30
        while _read_pid(pid_file) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if _read_pid(pid_file) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
