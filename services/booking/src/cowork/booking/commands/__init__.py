"""Booking use cases, one module per concern: each changes state and writes its events
(outbox) in the caller's transaction, and schedules or cancels the time-driven work it
implies. The names are re-exported here: callers write `commands.book`."""

from __future__ import annotations

from cowork.booking.commands.booking import (
    CLAIM_ATTEMPTS,
    book,
    book_any,
    check_in_service,
    decide,
    walk_in_earliest,
)
from cowork.booking.commands.cancellation import (
    booking_for_update,
    cancel,
    cancel_by_system,
    cancel_series,
    release,
)
from cowork.booking.commands.catalogue import (
    change_resource,
    change_space,
    close_space,
    create_resource,
    create_space,
    published,
)
from cowork.booking.commands.check_ins import (
    check_in,
    check_in_at_desk,
)
from cowork.booking.commands.jobs import (
    complete_job,
    no_show_job,
)
from cowork.booking.commands.membership import (
    follow_ended_membership,
    follow_erased_member,
)
from cowork.booking.commands.policy import (
    COMPLETE_JOB,
    NO_SHOW_JOB,
    SOURCE,
    Policy,
    Taken,
)
from cowork.booking.commands.waitlist import (
    join_waitlist,
    withdraw_from_waitlist,
)

__all__ = [
    "CLAIM_ATTEMPTS",
    "COMPLETE_JOB",
    "NO_SHOW_JOB",
    "SOURCE",
    "Policy",
    "Taken",
    "book",
    "book_any",
    "booking_for_update",
    "cancel",
    "cancel_by_system",
    "cancel_series",
    "change_resource",
    "change_space",
    "check_in",
    "check_in_at_desk",
    "check_in_service",
    "close_space",
    "complete_job",
    "create_resource",
    "create_space",
    "decide",
    "follow_ended_membership",
    "follow_erased_member",
    "join_waitlist",
    "no_show_job",
    "published",
    "release",
    "walk_in_earliest",
    "withdraw_from_waitlist",
]
