"""`python -m cowork.notifications [serve|migrate]`."""

import sys

from cowork.notifications.app import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main(sys.argv[1:]))
