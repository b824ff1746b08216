"""Helpers of the shared tests: writing events, subprocesses, waiting."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from aiokafka import ConsumerRecord

from cowork.shared import db
from cowork.shared.events import Envelope
from cowork.shared.outbox import add_event

from support import SOURCE, TOPIC, Sequenced

PROCS = Path(__file__).parent / "procs"
DLQ = "cowork.test.dlq"


async def write_events(dsn: str, streams: int, per_stream: int, *, per_tx: int = 100,
                       poison: set[tuple[int, int]] | None = None, pause: float = 0.0) -> int:
    """Write events round-robin over streams through the outbox, per_tx per transaction."""
    conn = await db.connect(dsn)
    todo = [(s, n) for n in range(per_stream) for s in range(streams)]
    try:
        for i in range(0, len(todo), per_tx):
            async with conn.transaction():
                for s, n in todo[i:i + per_tx]:
                    await add_event(conn, Sequenced(stream=f"s{s}", seq=n,
                                                    fail=(s, n) in (poison or set())),
                                    source=SOURCE)
            if pause:
                await asyncio.sleep(pause)
    finally:
        await conn.close()
    return len(todo)


class Proc:
    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.popen: subprocess.Popen[str] | None = None

    def start(self, *extra: str) -> Proc:
        self.popen = subprocess.Popen(
            [sys.executable, *self.args, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.popen.stdout is not None
        seen = []
        for line in self.popen.stdout:
            if line.strip() == "ready":
                break
            seen.append(line)
        else:
            raise RuntimeError(f"{self.args[0]} did not start:\n{''.join(seen[-40:])}")
        # Keep draining its output so the child never blocks on a full pipe.
        threading.Thread(target=self.popen.stdout.read, daemon=True).start()
        return self

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, no commit."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def fetchval(dsn: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def record(stream: str, n: int, *, sequence: int | None = None, fail: bool = False,
           offset: int = 0, envelope: Envelope | None = None) -> ConsumerRecord[bytes, bytes]:
    """The `n`-th event of `stream` as Kafka hands it over (partition 0 of TOPIC)."""
    env = envelope or Envelope.wrap(Sequenced(stream=stream, seq=n, fail=fail), source=SOURCE,
                                    sequence=sequence)
    return ConsumerRecord(TOPIC, 0, offset, 0, 0, env.subject.encode(), env.value(), None, 0, 0,
                          env.kafka_headers())


async def applied(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    """The (stream, seq) of the events applied, in the order they were."""
    return [(r["key"], r["seq"]) for r in await pool.fetch("SELECT key, seq FROM applied "
                                                            "ORDER BY id")]
