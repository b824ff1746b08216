"""`python -m cowork.membership [serve|migrate|after-restore]`."""

import sys

from cowork.membership.app import SERVICE

if __name__ == "__main__":
    sys.exit(SERVICE.main(sys.argv[1:]))
