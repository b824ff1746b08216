"""HTTP API v1 of the booking service (docs/api/booking.md), one router per resource."""

from cowork.booking.api import bookings, front_desk, reports, resources, series, spaces, waitlist

# Registration order decides only between routes of one method whose paths both match; here
# `/bookings/series` (POST) and `/bookings/{booking_id}` (GET) differ by method.
ROUTERS = [spaces.router, resources.router, bookings.router, series.router, waitlist.router,
           reports.router, front_desk.router]
