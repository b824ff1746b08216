"""An outbox relay process for the fault tests.

    python relay_proc.py DSN BOOTSTRAP TOPIC_PREFIX BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from cowork.shared import db
from cowork.shared.kafka import reliable_producer
from cowork.shared.relay import OutboxRelay


async def main() -> None:
    dsn, bootstrap, prefix, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    # The test finds the leading relay by its connection's application_name.
    pool = await db.create_pool(dsn + ("&" if "?" in dsn else "?")
                                + f"application_name=relay-{os.getpid()}", max_size=3)
    producer = reliable_producer(bootstrap, client_id="test-relay")
    await producer.start()
    relay = OutboxRelay(pool, producer, topic_prefix=prefix, batch_size=batch, poll_seconds=0.2,
                        service="test")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, relay.stop)
    print("ready", flush=True)
    await relay.run()
    await producer.stop()
    await pool.close()


asyncio.run(main())
