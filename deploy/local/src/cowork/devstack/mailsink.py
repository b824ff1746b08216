"""A local SMTP sink (aiosmtpd) for `make run` and the tests: every message it accepts is
written as an `.eml` file a person can open (any mail program reads it), under
`<state dir>/mail/`. `python -m cowork.devstack.mailsink <folder> <port>` runs it in the
foreground; `start(cfg)` runs it in the background beside the services."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

from cowork.devstack.stack import StackConfig, _port_open, _read_pid

DEFAULT_PORT = 8025


class EmlWriter:
    """aiosmtpd handler: accept every message and keep it as `<time>-<n>.eml`. `messages`
    holds the parsed messages too, for a test that runs the sink in-process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.messages: list[Message] = []
        self.encrypted: list[bool] = []  # per message: did it arrive over TLS

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data: bytes = envelope.original_content or envelope.content
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        path = self.folder / f"{stamp}-{len(self.messages):05d}.eml"
        path.write_bytes(data)
        self.messages.append(message_from_bytes(data, policy=policy.default))
        self.encrypted.append(session.ssl is not None
                              or server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted for delivery"


def folder(cfg: StackConfig) -> Path:
    return cfg.state_dir / "mail"


def port() -> int:
    return int(os.environ.get("COWORK_SMTP_PORT", str(DEFAULT_PORT)))


def _pid_file(cfg: StackConfig) -> Path:
    return cfg.state_dir / "services" / "mailsink.pid"


def start(cfg: StackConfig, timeout: float = 15.0) -> Path:
    """Start the sink in the background unless it already answers; return its folder."""
    where = folder(cfg)
    if _port_open(port()):
        return where
    _pid_file(cfg).parent.mkdir(parents=True, exist_ok=True)
    log = open(cfg.state_dir / "services" / "mailsink.log", "ab")
    proc = subprocess.Popen([sys.executable, "-m", "cowork.devstack.mailsink", str(where),
                             str(port())], stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    _pid_file(cfg).write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    while not _port_open(port()):
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"the SMTP sink did not start; see {cfg.state_dir}/services/"
                               "mailsink.log")
        time.sleep(0.2)
    return where


def stop(cfg: StackConfig) -> None:
    pid = _read_pid(_pid_file(cfg))
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    _pid_file(cfg).unlink(missing_ok=True)


@contextlib.contextmanager
def listening(where: Path, listen: int, **tls: Any) -> Iterator[EmlWriter]:
    """The sink on 127.0.0.1:`listen`, writing to `where`, while the block runs (in this
    process: the foreground sink below, and the tests). `tls`: aiosmtpd's Controller options
    for a sink that speaks TLS (`ssl_context` for implicit TLS; `tls_context` and
    `require_starttls` for STARTTLS)."""
    from aiosmtpd.controller import Controller

    writer = EmlWriter(where)
    controller = Controller(writer, hostname="127.0.0.1", port=listen, **tls)
    controller.start()
    try:
        yield writer
    finally:
        controller.stop()


def main(argv: list[str]) -> int:
    where = Path(argv[0]) if argv else folder(StackConfig.from_env())
    listen = int(argv[1]) if len(argv) > 1 else port()
    stopping = False

    def on_term(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    with listening(where, listen):
        print(f"SMTP sink on 127.0.0.1:{listen}; messages are written to {where}", flush=True)
        while not stopping:
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
