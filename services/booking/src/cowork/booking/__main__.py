"""`python -m cowork.booking [serve|migrate|after-restore]`."""

import sys

from cowork.booking.app import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main(sys.argv[1:]))
