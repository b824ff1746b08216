"""The auditor's verify (docs/vouchers-ledger.md, "Verify"): recompute every programme's money
from its append-only ledger and compare it with everything else the service keeps — balances,
vouchers, redemptions, the de minimis register, every issued statement's bytes and SHA-256 —
and check that the triggers guarding the ledger are in place. `cowork-vouchers verify
[--programme ID]` and `GET /v1/programmes/{id}/audit` run it; each mismatch is named."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg

from cowork.vouchers.commands.statements import render_statement
from cowork.vouchers.domain import audit
from cowork.vouchers.domain.audit import Mismatch
from cowork.vouchers.store import audit as audit_store
from cowork.vouchers.store import programmes as programmes_store

# The guards of the ledger's history: a missing or disabled one is a mismatch, since what it
# forbids (an UPDATE, a DELETE, an unbalanced entry, changed terms) can then have happened.
GUARD_TRIGGERS = {
    "ledger_transactions": ("ledger_transactions_append_only",
                            "ledger_transactions_no_truncate", "ledger_transaction_balanced"),
    "ledger_postings": ("ledger_postings_append_only", "ledger_postings_no_truncate",
                        "ledger_postings_balanced"),
    "statements": ("statements_append_only",),
    "programmes": ("programme_terms_immutable",),
}
_FIRING = {"O", "A"}  # enabled (origin), always; 'D' disabled, 'R' fires only on replicas


@dataclass
class Report:
    programmes: int = 0
    entries: int = 0
    vouchers: int = 0
    statements: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.mismatches


async def verify(conn: asyncpg.Connection, programme_id: UUID | None = None) -> Report:
    """Everything (or one programme), read in one snapshot: a movement committing meanwhile
    is in every table read or in none."""
    report = Report()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        report.mismatches += await guard_mismatches(conn)
        ids = [programme_id] if programme_id else await audit_store.programme_ids(conn)
        accreditations = await audit_store.accreditations(conn)
        for pid in ids:
            await _verify_programme(conn, pid, accreditations, report)
        if programme_id is None:
            report.mismatches += audit.de_minimis_mismatches(
                await audit_store.de_minimis_grants(conn))
    return report


async def guard_mismatches(conn: asyncpg.Connection) -> list[Mismatch]:
    present = await audit_store.triggers_on(conn, list(GUARD_TRIGGERS))
    found = []
    for table, names in GUARD_TRIGGERS.items():
        for name in names:
            if name not in present:
                found.append(Mismatch("guard_trigger", f"{table}.{name}", "missing"))
            elif present[name] not in _FIRING:
                found.append(Mismatch("guard_trigger", f"{table}.{name}",
                                      f"disabled (tgenabled {present[name]!r})"))
    return found


async def _verify_programme(conn: asyncpg.Connection, programme_id: UUID,
                            accreditations: list[asyncpg.Record], report: Report) -> None:
    programme = await programmes_store.programme_by_id(conn, programme_id)
    if programme is None:
        report.mismatches.append(Mismatch("programme", f"programme {programme_id}", "not found"))
        return
    entries = await audit_store.ledger_of(conn, programme_id)
    vouchers = await audit_store.vouchers_of(conn, programme_id)
    redemptions = await audit_store.redemptions_of(conn, programme_id)
    report.programmes += 1
    report.entries += len(entries)
    report.vouchers += len(vouchers)
    found = report.mismatches
    found += audit.ledger_mismatches(programme, entries)
    found += audit.voucher_mismatches(programme, vouchers, audit.voucher_money(entries))
    found += audit.redemption_mismatches(programme, entries, redemptions,
                                         {v["id"]: v for v in vouchers}, accreditations)
    found += [Mismatch("de_minimis_register", f"voucher {v}", "granted with no de minimis "
                                                              "register entry")
              for v in await audit_store.vouchers_without_register_entry(conn, programme_id)]
    found += await _statement_mismatches(conn, programme_id, entries, report)


async def _statement_mismatches(conn: asyncpg.Connection, programme_id: UUID,
                                entries: list[asyncpg.Record], report: Report
                                ) -> list[Mismatch]:
    """Every issued statement regenerated from the ledger, byte for byte; and every statement
    the ledger shows was issued is still there."""
    found = []
    issued = await audit_store.statements_of(conn, programme_id)
    report.statements += len(issued)
    for statement in issued:
        subject = f"statement {programme_id}/{statement['period']}"
        document = await render_statement(conn, programme_id, statement["period"])
        stored_json = bytes(statement["json_bytes"])
        if stored_json != document.json_bytes:
            found.append(Mismatch("statement_bytes", subject, "the issued JSON differs from "
                                                              "the ledger's lines"))
        if bytes(statement["csv_bytes"]) != document.csv_bytes:
            found.append(Mismatch("statement_bytes", subject, "the issued CSV differs from "
                                                              "the ledger's lines"))
        if statement["sha256"] != hashlib.sha256(stored_json).hexdigest() \
                or statement["sha256"] != document.sha256:
            found.append(Mismatch("statement_sha256", subject,
                                  f"stored {statement['sha256']}, regenerated {document.sha256}"))
        totals = (statement["redeemed_cents"], statement["reversed_cents"],
                  statement["net_cents"], statement["lines"])
        recomputed = (document.redeemed_cents, document.reversed_cents, document.net_cents,
                      document.lines)
        if totals != recomputed:
            found.append(Mismatch("statement_totals", subject,
                                  f"stored {totals}, regenerated {recomputed}"))
    periods = {s["period"] for s in issued}
    for period, entry_id in sorted(audit.issued_by_evidence(entries).items()):
        if period not in periods:
            found.append(Mismatch("statement_missing", f"statement {programme_id}/{period}",
                                  f"entry {entry_id} was moved past it as issued, and it is "
                                  "not there"))
    return found
