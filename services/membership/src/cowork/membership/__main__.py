"""`python -m cowork.membership [serve|migrate]`."""

import sys

from cowork.membership.app import MIGRATIONS, MembershipSettings, create_app
from cowork.shared.service import run_service_cli

if __name__ == "__main__":
    sys.exit(run_service_cli(sys.argv[1:], settings=MembershipSettings(), migrations=MIGRATIONS,
                             create_app=create_app))
