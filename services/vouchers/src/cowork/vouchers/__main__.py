"""`python -m cowork.vouchers [serve|migrate|verify|after-restore]` (the same as `cowork-vouchers`)."""

import sys

from cowork.vouchers.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
