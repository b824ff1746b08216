"""`python -m cowork.community [serve|migrate|after-restore]` (the same as `cowork-community`)."""

import sys

from cowork.community.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
