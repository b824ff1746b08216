"""Erasure by e-mail confirmation link: anyone may ask to erase what community holds under an
address; only whoever reads that mailbox can confirm it.

A request never reveals whether the address is known (the API answers the same either way);
a link is mailed only when something is held under it, at most `REQUESTS_PER_DAY` times a day
per address so the form cannot be used to flood someone's inbox."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode
from uuid import UUID, uuid4

import asyncpg

from cowork.community.commands.interest import SOURCE
from cowork.community.domain.interest import email_digest, normalised_email, token_digest
from cowork.community.store import interest as store
from cowork.shared.events import contracts as ev
from cowork.shared.events import topics
from cowork.shared.outbox import add_event, add_tombstone, erase_payloads

LINK_TTL = timedelta(hours=24)
REQUESTS_PER_DAY = 3
_PURGE_BATCH = 100


class LinkRefused(Exception):
    """The link cannot erase anything: unknown, already used or expired."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True)
class RequestOutcome:
    """What happened, for the tests and the logs (never for the caller: they get 202)."""

    mailed: bool
    reason: str  # `mailed`, `nothing_held`, `rate_limited`


async def _anything_held(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await store.holds_email(conn, email)
                or await store.registrations_hold_email(conn, email))


async def request_erasure(conn: asyncpg.Connection, email: str, language: str, now: datetime,
                          public_base_url: str, digest_key: bytes) -> RequestOutcome:
    """Record the request; when something is held under the address (and it is within its
    daily allowance) write the contact card with the link and the ErasureRequested event.
    `digest_key` keys the address's digest (`CommunitySettings.erasure_digest_key`)."""
    await purge_expired(conn, now)
    address, digest = normalised_email(email), email_digest(email, digest_key)
    await store.lock_address(conn, digest)
    within = await store.requests_since(conn, digest, now - timedelta(days=1)) < REQUESTS_PER_DAY
    request_id = uuid4()
    held = within and await _anything_held(conn, address)
    token = secrets.token_urlsafe(32) if held else None
    await store.insert_request(
        conn, request_id=request_id, digest=digest, email=address if held else None,
        language=language, token_digest=token_digest(token) if token else None, now=now,
        expires_at=now + LINK_TTL)
    if token is None:
        return RequestOutcome(False, "nothing_held" if within else "rate_limited")
    link = f"{public_base_url.rstrip('/')}/erasure/confirm?{urlencode({'token': token})}"
    await add_event(conn, ev.CommunityContact(
        registration_id=request_id, full_name=None, email=address,
        language=language,  # type: ignore[arg-type,unused-ignore]
        links={"erase": link}), source=SOURCE)
    await add_event(conn, ev.ErasureRequested(request_id=request_id), source=SOURCE)
    return RequestOutcome(True, "mailed")


async def confirm_erasure(conn: asyncpg.Connection, token: str, now: datetime) -> int:
    """Erase what is held under the request's address: the address leaves every expression
    of interest, the meetings' registrations under it are cancelled and erased, and every
    live request's contact card for it is tombstoned. Returns how many records lost it."""
    request = await store.request_by_token(conn, token_digest(token))
    if request is None:
        raise LinkRefused(404, "erasure_link_unknown", "this erasure link is not valid")
    if request["confirmed_at"] is not None:
        raise LinkRefused(409, "erasure_link_used", "this erasure link has already been used")
    if request["email"] is None or request["expires_at"] <= now:
        raise LinkRefused(410, "erasure_link_expired",
                          "this erasure link has expired; ask for a new one")
    email = request["email"]
    from cowork.community.commands.meetings import erase_registrations_for_email

    erased = await store.erase_email(conn, email, now)
    erased += int(await erase_registrations_for_email(conn, email, now))
    await store.mark_confirmed(conn, request["id"], now, erased)
    await _forget(conn, await store.live_requests_for(conn, request["email_digest"]), now)
    return erased


async def purge_expired(conn: asyncpg.Connection, now: datetime) -> int:
    """Requests whose link expired unused let go of their address (and their card). Run at
    each new request, so no address outlives its link by more than the next request; a
    scheduled job may call it too."""
    expired = await store.expired_requests(conn, now, _PURGE_BATCH)
    await _forget(conn, expired, now)
    return len(expired)


async def _forget(conn: asyncpg.Connection, request_ids: list[UUID], now: datetime) -> None:
    """The address out of the requests, their cards tombstoned and out of the outbox too."""
    if not request_ids:
        return
    await store.forget_address(conn, request_ids, now)
    for request_id in request_ids:
        key = str(request_id)
        await erase_payloads(conn, topic=topics.COMMUNITY_CONTACTS, key=key)
        await add_tombstone(conn, topic=topics.COMMUNITY_CONTACTS, key=key,
                            event_type=ev.CommunityContact.event_type, source=SOURCE)
