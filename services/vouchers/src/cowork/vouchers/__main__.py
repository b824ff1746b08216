"""`python -m cowork.vouchers [serve|migrate]`."""

import sys

from cowork.shared.service import run_service_cli
from cowork.vouchers.app import MIGRATIONS, VouchersSettings, create_app

if __name__ == "__main__":
    sys.exit(run_service_cli(sys.argv[1:], settings=VouchersSettings(), migrations=MIGRATIONS,
                             create_app=create_app))
