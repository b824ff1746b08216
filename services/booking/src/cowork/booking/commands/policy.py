"""What every booking use case shares: the policy from settings, the refusal of a taken
interval, the events' source and the jobs' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SOURCE = "/cowork/booking"
NO_SHOW_JOB = "booking.no_show"
COMPLETE_JOB = "booking.complete"


@dataclass(frozen=True)
class Policy:
    cancel_cutoff: timedelta = timedelta(hours=24)
    check_in_early: timedelta = timedelta(minutes=15)
    no_show_grace: timedelta = timedelta(minutes=30)


class Taken(Exception):
    """The resource is booked (buffer included) for part of the interval."""

    def __init__(self, start: datetime, end: datetime) -> None:
        super().__init__(f"taken from {start.isoformat()} to {end.isoformat()}")
        self.start = start
        self.end = end
