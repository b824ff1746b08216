"""The community use cases, one module per resource: each takes the caller's connection and
writes state and events (outbox) in the caller's transaction. Plain arguments, so the public
pages call them without HTTP."""

from cowork.community.commands.common import Refused, meeting_view, registration_view
from cowork.community.commands.jobs import jobs
from cowork.community.commands.meetings import (
    Registrant,
    cancel,
    cancel_meeting,
    change_meeting,
    check_in,
    close_meeting,
    confirm,
    erase_registrations_for_email,
    list_upcoming,
    publish_meeting,
    register,
)

__all__ = ["Refused", "Registrant", "cancel", "cancel_meeting", "change_meeting", "check_in",
           "close_meeting", "confirm", "erase_registrations_for_email", "jobs", "list_upcoming",
           "meeting_view", "publish_meeting", "register", "registration_view"]
