"""The hottest requests — a booking and a day's availability — run on the event loop alone.
FastAPI runs every plain `def` dependency in a worker thread: a hand-off and a wake-up of
another thread per dependency per request. Profiled under wrk (docs/benchmarks/history.md,
2026-12-07) that hand-off was ~13 % of a replica's CPU for dependencies that only read an
attribute. Cheap work goes in `async def` dependencies; this keeps it so."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from booking_support import Booking, rome

pytestmark = [pytest.mark.infra]


@pytest.fixture
def thread_hand_offs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What is handed to a worker thread from now on (Starlette's run_in_threadpool and
    everything else that goes through anyio's thread pool), by name."""
    handed: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        named = getattr(func, "func", func)  # FastAPI hands over functools.partial objects
        handed.append(getattr(named, "__qualname__", repr(named)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return handed


async def test_a_booking_and_availability_hand_nothing_to_a_thread(
        svc: Booking, thread_hand_offs: list[str]) -> None:
    space = await svc.space()
    desk = await svc.resource(space["id"])
    member = await svc.member_with()
    thread_hand_offs.clear()

    booked = await svc.book(member, desk["id"], rome(2, 9), rome(2, 10))
    assert booked.status_code == 201, booked.text
    free = await svc.client.get(f"/v1/resources/{desk['id']}/availability?date=2027-03-02",
                                headers=svc.member(member))
    assert free.status_code == 200, free.text
    assert free.json()["free"][0] == {"start": "2027-03-02T08:00:00+01:00",
                                      "end": "2027-03-02T09:00:00+01:00"}

    assert thread_hand_offs == []
