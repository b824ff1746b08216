"""Every SQL statement about partners' webhook subscriptions (their signing secrets are
stored sealed: secret_box.py). Functions take a connection: the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

_SUBSCRIPTION = ("id, owner_sub, url, event_types, secret, previous_secret, "
                 "previous_secret_until, active, created_at")


async def count_and_lock_subscriptions(conn: asyncpg.Connection, owner_sub: str) -> int:
    """The partner's active subscriptions, counted under a lock on the partner held to the end
    of the transaction: two creations at once cannot both see room for one more."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('webhooks/' || $1, 0))",
                       owner_sub)
    return int(await conn.fetchval(
        "SELECT count(*) FROM webhook_subscriptions WHERE owner_sub = $1 AND active", owner_sub))


async def create_subscription(conn: asyncpg.Connection, subscription_id: UUID, owner_sub: str,
                              url: str, event_types: Sequence[str], sealed_secret: str,
                              now: datetime) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO webhook_subscriptions (id, owner_sub, url, event_types, secret, created_at) "  # noqa: S608
        f"VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_SUBSCRIPTION}",
        subscription_id, owner_sub, url, list(event_types), sealed_secret, now)


async def rotate_secret(conn: asyncpg.Connection, subscription_id: UUID, sealed_secret: str,
                        sealed_previous: str, previous_until: datetime) -> asyncpg.Record | None:
    """The new secret signs from now on; the previous ones (sealed together, space-separated)
    keep signing until `previous_until`."""
    return await conn.fetchrow(
        "UPDATE webhook_subscriptions SET previous_secret = $3, "  # noqa: S608
        "previous_secret_until = $4, secret = $2 WHERE id = $1 AND active "
        f"RETURNING {_SUBSCRIPTION}", subscription_id, sealed_secret, sealed_previous,
        previous_until)


async def drop_expired_previous_secrets(conn: asyncpg.Connection, now: datetime) -> int:
    status = await conn.execute(
        "UPDATE webhook_subscriptions SET previous_secret = NULL, previous_secret_until = NULL "
        "WHERE previous_secret_until <= $1", now)
    return int(status.split()[-1])


async def stored_secrets(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return list(await conn.fetch("SELECT id, secret, previous_secret FROM webhook_subscriptions "
                                 "WHERE secret IS NOT NULL FOR UPDATE"))


async def replace_secrets(conn: asyncpg.Connection, subscription_id: UUID, secret: str,
                          previous_secret: str | None) -> None:
    await conn.execute("UPDATE webhook_subscriptions SET secret = $2, previous_secret = $3 "
                       "WHERE id = $1", subscription_id, secret, previous_secret)


async def any_subscription(conn: asyncpg.Connection) -> bool:
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE active)"))


async def subscription(conn: asyncpg.Connection, subscription_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions WHERE id = $1",  # noqa: S608
        subscription_id)


async def subscription_for_update(conn: asyncpg.Connection, subscription_id: UUID
                                  ) -> asyncpg.Record | None:
    """The subscription, locked to the end of the transaction (two rotations at once)."""
    return await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions WHERE id = $1 FOR UPDATE",  # noqa: S608
        subscription_id)


async def subscriptions_of(conn: asyncpg.Connection, owner_sub: str | None
                           ) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, owner_sub, url, event_types, active, created_at FROM webhook_subscriptions "
        "WHERE $1::text IS NULL OR owner_sub = $1 ORDER BY created_at", owner_sub)


async def deactivate_subscription(conn: asyncpg.Connection, subscription_id: UUID) -> None:
    """Deleted: nothing more is delivered, and its secrets are erased."""
    await conn.execute(
        "UPDATE webhook_subscriptions SET active = false, secret = NULL, previous_secret = NULL, "
        "previous_secret_until = NULL WHERE id = $1", subscription_id)
