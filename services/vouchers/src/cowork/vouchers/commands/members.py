"""A member erased (GDPR): what the service does with their applications and vouchers."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from cowork.vouchers.commands.grants import reject
from cowork.vouchers.commands.vouchers import end_voucher
from cowork.vouchers.store import applications as applications_store
from cowork.vouchers.store import replicas as replicas_store
from cowork.vouchers.store import vouchers as vouchers_store

MEMBER_ERASED = "member_erased"


async def forget_member(conn: asyncpg.Connection, member_id: UUID, now: datetime) -> None:
    """GDPR erasure: personal data goes; the member has left, so their pending and waiting
    applications are withdrawn and their active vouchers revoked (reason `member_erased`),
    which gives the unspent money back to the programme. Accounting facts stay."""
    await replicas_store.forget_member(conn, member_id, now)
    for application in await applications_store.live_applications_of(conn, member_id):
        await reject(conn, application, [MEMBER_ERASED], now)
    for voucher_id in await vouchers_store.active_vouchers_of(conn, member_id):
        await end_voucher(conn, voucher_id, status="revoked", reason=MEMBER_ERASED, now=now)
