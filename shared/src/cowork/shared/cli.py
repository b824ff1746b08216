"""The `cowork` console: tokens for the local stack and dead-letter replay for operators.

    cowork token --role staff [--sub ID] [--hours 12] [--audience SERVICE ...]
    cowork dlq list --service booking [--key KEY] [--database-url URL]
    cowork dlq replay --service vouchers [--limit N]
    cowork dlq replay --service booking --key KEY [--database-url URL]
    cowork dlq discard --service booking --key KEY [--consumer NAME] [--database-url URL]
    cowork catalogue [--check] [--write] [--release VERSION]

The database URL of `list`, `discard` and `replay --key` is the service's own (where its held
keys and parked records are): `--database-url`, else `<SERVICE>_DATABASE_URL`, else
`COWORK_DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from datetime import timedelta

from cowork.shared.auth import ROLES, SERVICE_AUDIENCES, issue_token
from cowork.shared.dlq import discard, held_keys, replay
from cowork.shared.events.topics import dlq_topic
from cowork.shared.settings import ServiceSettings

# Subjects of the tokens `cowork token` makes for roles other than member (uuid5 of the roles).
LOCAL_SUBJECTS = uuid.UUID("6f1c2a52-8b7e-4c1d-9a3f-0c0ffee0c0de")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cowork")
    sub = parser.add_subparsers(dest="command", required=True)

    token = sub.add_parser("token", help="print a JWT valid for this deployment's secret")
    token.add_argument("--role", action="append", choices=ROLES, required=True,
                       help="repeat for several roles")
    token.add_argument("--sub", help="subject; a member's id for the member role")
    token.add_argument("--hours", type=float, default=12.0)
    token.add_argument("--audience", action="append", choices=SERVICE_AUDIENCES,
                       help="the service the token is for; repeat for several "
                            "(default: every service)")

    dlq = sub.add_parser("dlq", help="dead-letter topics")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    services = ["membership", "booking", "vouchers", "notifications", "community"]
    rep = dlq_sub.add_parser("replay", help="re-publish dead letters to their original topic")
    rep.add_argument("--service", required=True, choices=services)
    rep.add_argument("--limit", type=int)
    rep.add_argument("--key", help="only the dead letter holding this key (needs the database)")
    rep.add_argument("--database-url")
    lst = dlq_sub.add_parser("list", help="keys held by a dead letter, with their parked records")
    lst.add_argument("--service", required=True, choices=services)
    lst.add_argument("--key")
    lst.add_argument("--database-url")
    dis = dlq_sub.add_parser("discard", help="release a held key's parked records without its "
                                             "dead letter")
    dis.add_argument("--service", required=True, choices=services)
    dis.add_argument("--key", required=True)
    dis.add_argument("--consumer", help="only this consumer (default: every consumer)")
    dis.add_argument("--database-url")

    cat = sub.add_parser("catalogue", help="the AsyncAPI event catalogue from the contracts")
    cat.add_argument("--write", action="store_true", help="write docs/events/asyncapi.json")
    cat.add_argument("--check", action="store_true",
                     help="fail on a breaking change against the last released catalogue")
    cat.add_argument("--release", metavar="VERSION",
                     help="record the current catalogue as released VERSION (never replaced)")

    args = parser.parse_args(argv)
    if args.command == "catalogue":
        return _catalogue(write=args.write, check=args.check, release_as=args.release)
    # The console serves the local stack unless told otherwise (its tokens are for it).
    settings = ServiceSettings(kafka_bootstrap=os.environ.get("COWORK_KAFKA_BOOTSTRAP",
                                                              "127.0.0.1:9092"),
                               environment=os.environ.get("COWORK_ENV", "local"))
    if args.command == "token":
        if args.sub is None and "member" in args.role:
            parser.error("--sub (the member's id) is required with --role member")
        # The same subject every time for the same roles: a partner who creates a webhook with
        # one token finds it with the next (a random one made each token somebody new).
        subject = args.sub or str(uuid.uuid5(LOCAL_SUBJECTS, ",".join(sorted(set(args.role)))))
        print(f"sub {subject}", file=sys.stderr)
        print(issue_token(settings.jwt_secret.get_secret_value(), sub=subject, roles=args.role,
                          ttl=timedelta(hours=args.hours), issuer=settings.jwt_issuer,
                          audience=args.audience or SERVICE_AUDIENCES))
        return 0
    if args.command == "dlq":
        return _dlq(args, settings)
    return 2


def _database_url(args: argparse.Namespace) -> str:
    url = (args.database_url or os.environ.get(f"{args.service.upper()}_DATABASE_URL")
           or os.environ.get("COWORK_DATABASE_URL"))
    if not url:
        raise SystemExit(f"the {args.service} database is needed: --database-url or "
                         f"{args.service.upper()}_DATABASE_URL")
    return url


def _dlq(args: argparse.Namespace, settings: ServiceSettings) -> int:
    if args.dlq_command == "list":
        held = asyncio.run(held_keys(_database_url(args), args.key))
        for h in held:
            print(f"{h.consumer} {h.topic} key={h.key} held since {h.since.isoformat()} by "
                  f"{h.event_type or 'an undecodable record'} {h.event_id or ''} "
                  f"({h.error_type}); {h.parked} parked; {h.state}")
        print(f"{len(held)} key(s) held")
        return 0
    if args.dlq_command == "discard":
        released = asyncio.run(discard(_database_url(args), args.key, args.consumer))
        print(f"{released} hold(s) released; the consumers apply the parked records next")
        return 0 if released else 1
    if args.dlq_command == "replay":
        topic = settings.topic(dlq_topic(args.service))
        event_ids = None
        if args.key is not None:
            held = asyncio.run(held_keys(_database_url(args), args.key))
            event_ids = {h.event_id for h in held if h.event_id is not None}
        letters = asyncio.run(replay(settings.kafka_bootstrap, topic, limit=args.limit,
                                     key=args.key, event_ids=event_ids))
        for letter in letters:
            print(f"replayed {topic}[{letter.partition}]@{letter.offset} -> "
                  f"{letter.original_topic}: was {letter.error}")
        print(f"{len(letters)} record(s) replayed")
        return 0
    return 2


def _catalogue(*, write: bool, check: bool, release_as: str | None = None) -> int:
    from cowork.shared.events.catalogue import (
        build_catalogue,
        check_against_release,
        default_path,
        release,
        render,
    )

    path = default_path()
    current = build_catalogue()
    if check or write:
        # The baseline is the last release, which nothing here overwrites: --write cannot
        # turn a breaking change into the new normal.
        problems = check_against_release(current, path)
        for problem in problems:
            print(f"breaking: {problem}", file=sys.stderr)
        if problems:
            return 1
    if write:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(current))
        print(f"wrote {path}")
    if release_as:
        try:
            print(f"released {release(current, release_as, path)}")
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 1
    if not (write or check or release_as):
        print(render(current), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
