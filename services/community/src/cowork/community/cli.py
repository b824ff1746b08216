"""`cowork-community` (and `python -m cowork.community`): serve, migrate or after-restore."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from cowork.community.app import SERVICE


def main(argv: Sequence[str] | None = None) -> int:
    return SERVICE.main(list(sys.argv[1:] if argv is None else argv))
