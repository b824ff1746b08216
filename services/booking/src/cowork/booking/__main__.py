"""`python -m cowork.booking [serve|migrate]`."""

import sys

from cowork.booking.app import MIGRATIONS, BookingSettings, create_app
from cowork.shared.service import run_service_cli

if __name__ == "__main__":
    sys.exit(run_service_cli(sys.argv[1:], settings=BookingSettings(), migrations=MIGRATIONS,
                             create_app=create_app))
