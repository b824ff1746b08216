"""The `cowork` console: tokens for the local stack and dead-letter replay for operators.

    cowork token --role staff [--sub ID] [--hours 12]
    cowork dlq replay --service vouchers [--limit N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from datetime import timedelta

from cowork.shared.auth import ROLES, issue_token
from cowork.shared.dlq import replay
from cowork.shared.events.topics import dlq_topic
from cowork.shared.settings import ServiceSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cowork")
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a JWT valid for this deployment's secret")
    token.add_argument("--role", action="append", choices=ROLES, required=True,
                       help="repeat for several roles")
    token.add_argument("--sub", help="subject; a member's id for the member role")
    token.add_argument("--hours", type=float, default=12.0)

    dlq = sub.add_parser("dlq", help="dead-letter topics")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    rep = dlq_sub.add_parser("replay", help="re-publish dead letters to their original topic")
    rep.add_argument("--service", required=True,
                     choices=["membership", "booking", "vouchers", "notifications"])
    rep.add_argument("--limit", type=int)

    cat = sub.add_parser("catalogue", help="the AsyncAPI event catalogue from the contracts")
    cat.add_argument("--write", action="store_true", help="write docs/events/asyncapi.json")
    cat.add_argument("--check", action="store_true",
                     help="fail on a breaking change against the committed catalogue")

    args = parser.parse_args(argv)
    if args.command == "catalogue":
        return _catalogue(write=args.write, check=args.check)
    # The console serves the local stack unless told otherwise (its tokens are for it).
    settings = ServiceSettings(kafka_bootstrap=os.environ.get("COWORK_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"),
                               environment=os.environ.get("COWORK_ENV", "local"))
    if args.command == "token":
        subject = args.sub or (str(uuid.uuid4()) if "member" not in args.role else None)
        if subject is None:
            parser.error("--sub (the member's id) is required with --role member")
        print(issue_token(settings.jwt_secret.get_secret_value(), sub=subject, roles=args.role,
                          ttl=timedelta(hours=args.hours), issuer=settings.jwt_issuer))
        return 0
    if args.command == "dlq" and args.dlq_command == "replay":
        topic = settings.topic(dlq_topic(args.service))
        letters = asyncio.run(replay(settings.kafka_bootstrap, topic, limit=args.limit))
        for letter in letters:
            print(f"replayed {topic}[{letter.partition}]@{letter.offset} -> "
                  f"{letter.original_topic}: was {letter.error}")
        print(f"{len(letters)} record(s) replayed")
        return 0
    return 2


def _catalogue(*, write: bool, check: bool) -> int:
    import json

    from cowork.shared.events.catalogue import (
        breaking_changes,
        build_catalogue,
        default_path,
        render,
    )

    path = default_path()
    current = build_catalogue()
    if check:
        published = json.loads(path.read_text())
        problems = breaking_changes(published, current)
        for problem in problems:
            print(f"breaking: {problem}", file=sys.stderr)
        if problems:
            return 1
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(current))
        print(f"wrote {path}")
    elif not check:
        print(render(current), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
