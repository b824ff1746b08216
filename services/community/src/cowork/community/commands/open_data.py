"""The monthly open-data build: each dataset's CSV for a month, frozen with its SHA-256 and
announced (open_data.published, through the outbox) in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from cowork.community.domain import statistics as stats
from cowork.community.store import statistics as store
from cowork.shared import scheduler
from cowork.shared.events import contracts as ev
from cowork.shared.outbox import add_event

SOURCE = "/cowork/community"
BUILD_JOB = "community.open_data_build"


@dataclass(frozen=True)
class BuildSettings:
    public_base_url: str
    k: int
    open_hours_per_weekday: int


def dataset_url(base_url: str, dataset: str, period: str) -> str:
    return f"{base_url.rstrip('/')}/v1/open-data/{dataset}/{period}.csv"


async def datasets_for(conn: asyncpg.Connection, period: str, settings: BuildSettings
                       ) -> dict[str, stats.Dataset]:
    """Every dataset of the month, from the statistics tables as they are now."""
    start, end = stats.month_bounds(period)
    members = await store.members_until(conn, end)
    bookings = await store.bookings_between(conn, start, end)
    built = [
        stats.members_dataset(period, members, start, k=settings.k),
        stats.members_status_dataset(period, members, start, k=settings.k),
        stats.occupancy_dataset(period, bookings, await store.resources(conn),
                                settings.open_hours_per_weekday),
        stats.occupancy_hours_dataset(period, bookings),
        stats.vouchers_dataset(period, await store.programmes(conn),
                               await store.vouchers_until(conn, end), k=settings.k,
                               published=stats.published_beneficiaries(
                                   await store.frozen_csvs(conn, "vouchers", period))),
        stats.meetings_dataset(period, await store.meetings_until(conn, end), start),
    ]
    return {d.name: d for d in built}


async def build_month(conn: asyncpg.Connection, period: str, settings: BuildSettings,
                      now: datetime) -> list[Mapping[str, str]]:
    """Freezes the datasets of a month not built yet (a built month keeps its bytes) and
    announces each one frozen now. Returns every dataset's release of the month."""
    out = []
    for name, dataset in (await datasets_for(conn, period, settings)).items():
        url = dataset_url(settings.public_base_url, name, period)
        if await store.freeze(conn, name, period, dataset.csv_bytes(), dataset.sha256(), now):
            await add_event(conn, ev.OpenDataPublished(dataset=name, period=period, url=url,
                                                       sha256=dataset.sha256()), source=SOURCE)
        release = await store.release(conn, name, period)
        assert release is not None
        out.append({"dataset": name, "period": period, "url": url, "sha256": release["sha256"]})
    return out


def build_job(settings: BuildSettings) -> scheduler.JobHandler:
    """The scheduled build: the job keyed by a month runs on the next month's first night,
    builds that month and schedules the next one."""

    async def run(conn: asyncpg.Connection, job: scheduler.Job, now: datetime) -> None:
        period = job.key if stats.is_period(job.key) else stats.previous_period(now)
        await build_month(conn, period, settings, now)
        following = stats.next_period(period)
        _, due = stats.month_bounds(following)
        await scheduler.schedule(conn, BUILD_JOB, following, due + timedelta(hours=2))

    return run
