"""`python -m cowork.booking [serve|migrate]`."""

from __future__ import annotations

import asyncio
import sys

import uvicorn

from cowork.booking.app import MIGRATIONS, BookingSettings, create_app
from cowork.shared.db import migrate_service


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "serve"
    settings = BookingSettings()
    if command == "migrate":
        applied = asyncio.run(migrate_service(settings.database_url.get_secret_value(),
                                              settings.service_name, MIGRATIONS))
        print("\n".join(applied) or "nothing to apply")
        return 0
    if command == "serve":
        uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                    log_level="warning", timeout_graceful_shutdown=20)
        return 0
    print(f"usage: python -m cowork.booking [serve|migrate], not {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
