"""A consumer process for the fault tests: applies Sequenced events into `applied`.

    python consumer_proc.py DSN BOOTSTRAP TOPIC_PREFIX [--crash-after-commit]

With --crash-after-commit it SIGKILLs itself right after the first batch's database
transaction commits and before the offsets are committed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cowork.shared import db
from cowork.shared.consumer import EventConsumer, RetryPolicy
from cowork.shared.kafka import reliable_producer
from cowork.shared.transport import FetchLoop

from support import TOPIC, Sequenced, record_applied


async def main() -> None:
    dsn, bootstrap, prefix = sys.argv[1:4]
    crash = "--crash-after-commit" in sys.argv
    pool = await db.create_pool(dsn, max_size=4)
    producer = reliable_producer(bootstrap, client_id="test-consumer")
    await producer.start()
    consumer = EventConsumer(
        name="sequenced", service="test", pool=pool, producer=producer, topics=[TOPIC],
        handlers={Sequenced.event_type: record_applied}, dlq_topic="cowork.test.dlq",
        topic_prefix=prefix, retry=RetryPolicy(max_attempts=3, base_seconds=0.05),
        batch_size=200,
    )
    if crash:
        original = consumer.apply_records

        async def apply_then_die(records):  # type: ignore[no-untyped-def]
            await original(records)
            os.kill(os.getpid(), signal.SIGKILL)

        consumer.apply_records = apply_then_die  # type: ignore[method-assign]
    loop = FetchLoop.connect(consumer, bootstrap, client_id="test-consumer")
    await loop.start()
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await loop.stop()
    await producer.stop()
    await pool.close()


asyncio.run(main())
