"""A real service process for fault tests: started as `python -m cowork.<service> serve` on a
free port against a given database and topic prefix, SIGKILLed mid-stream, started again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request

import asyncpg

from cowork.devtools import free_port


async def count(dsn: str, sql: str, *args: object) -> int:
    """One number from the service's database (0 while its tables do not exist yet)."""
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


class ServiceProcess:
    def __init__(self, service: str, database_url: str, bootstrap: str, prefix: str,
                 **settings: str) -> None:
        """`settings` are the service's own variables without its prefix, e.g.
        `CONSUMER_BATCH_SIZE="20"`."""
        self.service, self.database_url, self.port = service, database_url, free_port()
        env_prefix = service.upper() + "_"
        self._env = {**os.environ, "COWORK_ENV": "local", "COWORK_TOPIC_PREFIX": prefix,
                     env_prefix + "DATABASE_URL": database_url,
                     env_prefix + "KAFKA_BOOTSTRAP": bootstrap,
                     env_prefix + "HTTP_PORT": str(self.port)}
        self._env.update({env_prefix + name: value for name, value in settings.items()})
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        await asyncio.to_thread(self._start_and_wait)

    def _start_and_wait(self) -> None:
        self._proc = subprocess.Popen([sys.executable, "-m", f"cowork.{self.service}", "serve"],
                                      env=self._env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=1):
                    return
            except OSError:
                if self._proc.poll() is not None:
                    raise RuntimeError(f"the {self.service} service exited at start") from None
            time.sleep(0.1)
        raise RuntimeError(f"the {self.service} service never became ready")

    def sigkill(self) -> None:
        """No shutdown, no offset commit, no flush."""
        assert self._proc is not None
        self._proc.send_signal(signal.SIGKILL)
        self._proc.wait(10)

    async def sigkill_mid_stream(self, progress: str, at_least: int, total: int) -> int:
        """Once the query `progress` counts `at_least`, SIGKILL the process and return the
        count at the kill, which must lie strictly inside the stream."""
        for _ in range(1500):
            if await count(self.database_url, progress) >= at_least:
                break
            await asyncio.sleep(0.01)
        self.sigkill()
        done = await count(self.database_url, progress)
        assert 0 < done < total, "the kill must land mid-stream"
        return done

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(30)
