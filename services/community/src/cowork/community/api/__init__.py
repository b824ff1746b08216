"""The community service's routes: one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from cowork.community.api import erasure, interest, meetings, open_data, registrations, reports

# The `.ics` routes come before `/meetings/{id}` (in `meetings.public`), which would take them.
ROUTERS: list[APIRouter] = [meetings.public, meetings.router, registrations.public,
                            registrations.router, interest.router, erasure.router,
                            open_data.router, reports.router]
