"""`cowork-vouchers` (and `python -m cowork.vouchers`): serve, migrate, or verify.

    cowork-vouchers verify [--programme ID] [--database-url URL]

verify recomputes every programme (or one) from its ledger and compares (verify.py); it prints
each mismatch on a line of its own and exits 1 when there is any, 0 when all is consistent.
The database is the service's own: `--database-url`, else VOUCHERS_DATABASE_URL (the settings).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from uuid import UUID

from cowork.shared import db
from cowork.vouchers.app import SERVICE, VouchersSettings
from cowork.vouchers.verify import Report, verify


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] != "verify":
        return SERVICE.main(args)
    parser = argparse.ArgumentParser(prog="cowork-vouchers verify",
                                     description="recompute the vouchers' money from the "
                                                 "ledger and name every mismatch")
    parser.add_argument("--programme", type=UUID, help="one programme (default: all)")
    parser.add_argument("--database-url", help="default: the service's settings")
    options = parser.parse_args(args[1:])
    url = options.database_url or VouchersSettings().database_url.get_secret_value()
    report = asyncio.run(verify_database(url, options.programme))
    print(describe(report))
    return 0 if report.clean else 1


async def verify_database(url: str, programme_id: UUID | None = None) -> Report:
    """verify on a connection of its own to the service's database."""
    conn = await db.connect(url)
    try:
        return await verify(conn, programme_id)
    finally:
        await conn.close()


def describe(report: Report) -> str:
    checked = (f"{report.programmes} programme(s), {report.entries} ledger entries, "
               f"{report.vouchers} voucher(s), {report.statements} issued statement(s)")
    if report.clean:
        return f"verify: OK: {checked}"
    lines = [f"MISMATCH {m}" for m in report.mismatches]
    return "\n".join([*lines, f"verify: FAILED: {len(report.mismatches)} mismatch(es) in "
                               f"{checked}"])
