"""`python -m cowork.notifications [serve|migrate|after-restore]`."""

import sys

from cowork.notifications.app import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main(sys.argv[1:]))
