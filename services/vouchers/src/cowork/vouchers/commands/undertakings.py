"""The de minimis undertaking behind the keys members declare (Regulation (EU) 2023/2831):
a sole trader's codice fiscale and partita IVA, and the member's own id before they declared
either, are one undertaking with one EUR 300,000 ceiling. The link is recorded once, when an
application declares a key, and every grant and every reading of the register follows it."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from cowork.vouchers.domain.grants import undertaking_key
from cowork.vouchers.store import grants as grants_store


async def declared_undertaking(conn: asyncpg.Connection, member_id: UUID,
                               tax_code: str | None) -> str:
    """The key an application declares, joined to the member's undertaking: declaring another
    key later never opens a second ceiling. Serialised per member."""
    key = undertaking_key(member_id, tax_code)
    await grants_store.lock_member_undertaking(conn, member_id)
    own_key = undertaking_key(member_id, None)
    while True:
        member_root = await grants_store.undertaking_of(conn, own_key)
        declared_root = await grants_store.undertaking_of(conn, key)
        if member_root == declared_root:
            return key
        for root in sorted({member_root, declared_root}):
            await grants_store.lock_undertaking(conn, root)
        # Another member's application may have joined either undertaking meanwhile.
        if (await grants_store.undertaking_of(conn, own_key),
                await grants_store.undertaking_of(conn, key)) == (member_root, declared_root):
            await grants_store.join_undertaking(conn, member_root, into_root=declared_root)
            return key


async def locked_undertaking(conn: asyncpg.Connection, key: str) -> str:
    """The undertaking (root key) a key belongs to, locked until the transaction ends: grants
    to it are decided one at a time."""
    root = await grants_store.undertaking_of(conn, key)
    while True:
        await grants_store.lock_undertaking(conn, root)
        current = await grants_store.undertaking_of(conn, key)
        if current == root:  # joined to no other undertaking while we waited
            return root
        root = current


async def member_undertaking(conn: asyncpg.Connection, member_id: UUID) -> str:
    """The undertaking of a member: the one their declared keys belong to."""
    return await grants_store.undertaking_of(conn, undertaking_key(member_id, None))


async def undertaking_of_tax_code(conn: asyncpg.Connection, tax_code: str) -> str:
    return await grants_store.undertaking_of(conn, undertaking_key(UUID(int=0), tax_code))
