"""`python -m cowork.vouchers [serve|migrate|after-restore]`."""

import sys

from cowork.vouchers.app import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main(sys.argv[1:]))
