"""`python -m cowork.notifications [serve|migrate]`."""

import sys

from cowork.notifications.app import MIGRATIONS, NotificationsSettings, create_app
from cowork.shared.service import run_service_cli

if __name__ == "__main__":
    sys.exit(run_service_cli(sys.argv[1:], settings=NotificationsSettings(),
                             migrations=MIGRATIONS, create_app=create_app))
