import sys

from cowork.devstack.cli import main

sys.exit(main())
