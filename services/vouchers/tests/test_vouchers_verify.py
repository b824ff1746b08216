"""The auditor's verify (issue 19): recomputed from the append-only ledger, it passes on what
the service wrote and names each thing tampered with in SQL behind its back; the CLI exits
non-zero naming it, and GET /v1/programmes/{id}/audit shows it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from vouchers_support import OFFICER, Vouchers, assert_verify_clean, member_token

from cowork.shared.events import contracts as ev
from cowork.vouchers.verify import verify

pytestmark = [pytest.mark.infra]


async def _history(svc: Vouchers) -> dict[str, Any]:
    """A programme with a voucher, a subsidised booking, a cancelled one, an issued March
    statement and a late line moved past it into April."""
    programme = await svc.programme()
    space_id = await svc.space()
    member_id, voucher_id = await svc.granted(programme["id"])
    kept = svc.booking(member_id, space_id, charged_cents=2_000)
    cancelled = svc.booking(member_id, space_id, charged_cents=3_000, day=date(2027, 3, 3))
    await svc.deliver(kept)
    await svc.deliver(cancelled)
    await svc.deliver(ev.BookingCancelled(booking_id=cancelled.booking_id, member_id=member_id,
                                          cancelled_by="member", late=False, charged_cents=0,
                                          cancelled_at=svc.clock()))
    issued = await svc.client.post(f"/v1/programmes/{programme['id']}/statements/2027-03/issue",
                                   headers=OFFICER)
    assert issued.status_code == 201, issued.text
    await svc.deliver(svc.booking(member_id, space_id, charged_cents=1_000,
                                  day=date(2027, 3, 4)))  # recorded in March, lands in April
    return {"programme_id": programme["id"], "voucher_id": voucher_id, "member_id": member_id,
            "booking_id": kept.booking_id}


async def _tampered(conn: asyncpg.Connection, table: str, statement: str, *args: Any) -> None:
    """As someone with the table owner's rights would: the guard off, the change, the guard
    back on (so only the data tells)."""
    async with conn.transaction():
        await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        await conn.execute(statement, *args)
        await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")


async def _named(svc: Vouchers) -> list[str]:
    async with svc.runtime.db.acquire() as conn:
        return [str(m) for m in (await verify(conn)).mismatches]


async def test_a_clean_history_verifies_and_the_audit_says_ok(svc: Vouchers) -> None:
    history = await _history(svc)
    await assert_verify_clean(svc.runtime.db)
    audit = await svc.client.get(f"/v1/programmes/{history['programme_id']}/audit",
                                 headers=OFFICER)
    assert audit.status_code == 200, audit.text
    assert (audit.json()["ok"], audit.json()["mismatches"], audit.json()["statements"]) == \
        (True, [], 1)
    forbidden = await svc.client.get(f"/v1/programmes/{history['programme_id']}/audit",
                                     headers=member_token(history["member_id"]))
    assert forbidden.status_code == 403


async def test_a_widened_validity_is_named(svc: Vouchers) -> None:
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        await conn.execute("UPDATE vouchers SET valid_until = valid_until + 30 WHERE id = $1",
                           UUID(history["voucher_id"]))
    named = await _named(svc)
    assert [m for m in named if m.startswith(f"voucher_validity: voucher {history['voucher_id']}")
            ], named


async def test_a_deleted_ledger_entry_is_named(svc: Vouchers) -> None:
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        entry = await conn.fetchval("SELECT id FROM ledger_transactions WHERE source_id = $1",
                                    history["booking_id"])
        await _tampered(conn, "ledger_postings",
                        "DELETE FROM ledger_postings WHERE transaction_id = $1", entry)
        await _tampered(conn, "ledger_transactions",
                        "DELETE FROM ledger_transactions WHERE id = $1", entry)
    named = await _named(svc)
    assert f"redemption_record: redemption {entry}: 1000 paid with no redeem entry in the ledger" \
        in named, named
    assert any(m.startswith("balances: programme") for m in named), named
    assert any(m.startswith("voucher_remaining:") for m in named), named
    assert any(m.startswith("statement_bytes:") for m in named), named  # March regenerated


async def test_a_deleted_issued_statement_is_named(svc: Vouchers) -> None:
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        await _tampered(conn, "statements", "DELETE FROM statements WHERE period = '2027-03'")
    named = await _named(svc)
    assert [m for m in named if m.startswith(
        f"statement_missing: statement {history['programme_id']}/2027-03")], named


async def test_a_changed_statement_is_named(svc: Vouchers) -> None:
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        await _tampered(conn, "statements", "UPDATE statements SET json_bytes = "
                        "convert_to(replace(convert_from(json_bytes, 'UTF8'), '1000', '1900'), 'UTF8')")
    named = await _named(svc)
    subject = f"statement {history['programme_id']}/2027-03"
    assert f"statement_bytes: {subject}: the issued JSON differs from the ledger's lines" \
        in named, named
    assert any(m.startswith(f"statement_sha256: {subject}") for m in named), named


async def test_an_overpayment_is_named(svc: Vouchers) -> None:
    """A redemption paid above the coverage and the voucher's cap, written as a balanced
    entry (so the ledger alone still sums to zero)."""
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        await conn.execute("UPDATE programme_balances SET committed_cents = committed_cents "
                           "+ 200000, available_cents = available_cents - 200000")
        await conn.execute("UPDATE redemptions SET subsidy_cents = 200000 WHERE source_id = $1",
                           history["booking_id"])
    named = await _named(svc)
    assert any(m.startswith("redemption_record:") and "subsidy_cents" in m for m in named), named
    assert any(m.startswith("year_cap:") for m in named), named
    assert any(m.startswith("balances:") for m in named), named


async def test_an_overpayment_through_the_ledger_is_named(svc: Vouchers) -> None:
    """An extra redeem entry, balanced, with its redemption: coverage and caps still tell."""
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn, conn.transaction():
        redemption = await conn.fetchrow("SELECT * FROM redemptions WHERE source_id = $1",
                                         history["booking_id"])
        forged = {**dict(redemption), "id": UUID(int=7), "source_event_id": UUID(int=8),
                  "source_type": "membership", "subsidy_cents": 160_000}
        await conn.execute(
            "INSERT INTO ledger_transactions (id, programme_id, movement, amount_cents, "
            "recorded_at, voucher_id, member_id, source_type, source_id, source_event_id, "
            "price_cents, statement_period) VALUES ($1, $2, 'redeem', 160000, $3, $4, $5, "
            "'membership', $6, $7, 2000, '2027-04')", forged["id"], forged["programme_id"],
            forged["recorded_at"], forged["voucher_id"], forged["member_id"],
            forged["source_id"], forged["source_event_id"])
        await conn.execute("INSERT INTO ledger_postings VALUES ($1, 'committed', -160000), "
                           "($1, 'disbursed', 160000)", forged["id"])
        await conn.execute(
            "INSERT INTO redemptions (id, voucher_id, programme_id, member_id, source_type, "
            "source_id, source_event_id, used_on, price_cents, charged_cents, subsidy_cents, "
            "recorded_at) SELECT $1, voucher_id, programme_id, member_id, 'membership', "
            "source_id, $2, used_on, 2000, 2000, 160000, recorded_at FROM redemptions "
            "WHERE id = $3", forged["id"], forged["source_event_id"], redemption["id"])
    named = await _named(svc)
    assert any(m.startswith(f"coverage: redemption {forged['id']}") for m in named), named
    assert any(m.startswith(f"voucher_cap: voucher {history['voucher_id']}") for m in named), named


async def test_a_disabled_or_missing_guard_is_named(svc: Vouchers) -> None:
    await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        await conn.execute("ALTER TABLE ledger_transactions DISABLE TRIGGER "
                           "ledger_transactions_append_only")
        await conn.execute("DROP TRIGGER programme_terms_immutable ON programmes")
    named = await _named(svc)
    assert "guard_trigger: ledger_transactions.ledger_transactions_append_only: disabled " \
           "(tgenabled 'D')" in named, named
    assert "guard_trigger: programmes.programme_terms_immutable: missing" in named, named


async def test_a_programmes_terms_are_fixed_once_it_has_vouchers(svc: Vouchers) -> None:
    history = await _history(svc)
    unused = await svc.programme(name="No vouchers yet")
    async with svc.runtime.db.acquire() as conn:
        with pytest.raises(asyncpg.RestrictViolationError, match="terms are fixed"):
            await conn.execute("UPDATE programmes SET coverage_pct = 100 WHERE id = $1",
                               UUID(history["programme_id"]))
        await conn.execute("UPDATE programmes SET coverage_pct = 60 WHERE id = $1",
                           UUID(unused["id"]))  # nothing granted under it yet
    closed = await svc.client.post(f"/v1/programmes/{history['programme_id']}/close",
                                   headers=OFFICER)
    assert closed.status_code == 200, closed.text  # its status still changes
    await assert_verify_clean(svc.runtime.db)


async def test_the_cli_exits_non_zero_naming_each_mismatch(svc: Vouchers,
                                                           database_url: str) -> None:
    history = await _history(svc)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cowork.vouchers", "verify", *args],
                              env={**os.environ, "VOUCHERS_DATABASE_URL": database_url},
                              capture_output=True, text=True, timeout=120, check=False)

    clean = run("--programme", history["programme_id"])
    assert clean.returncode == 0 and "verify: OK: 1 programme(s)" in clean.stdout, clean
    async with svc.runtime.db.acquire() as conn:
        await conn.execute("UPDATE vouchers SET remaining_cents = remaining_cents - 1")
    failed = run()
    assert failed.returncode == 1, failed
    assert f"MISMATCH voucher_remaining: voucher {history['voucher_id']}: ledger" in failed.stdout
    assert "verify: FAILED: 1 mismatch(es)" in failed.stdout, failed.stdout


async def test_verify_reads_one_snapshot(svc: Vouchers) -> None:
    """Verifying while money moves: never a mismatch that is only the race between reading
    the ledger and reading the vouchers and redemptions."""
    history = await _history(svc)
    svc.clock.now = datetime(2027, 4, 2, 9, tzinfo=UTC)
    space_id = await svc.space()
    bookings = [svc.deliver(svc.booking(history["member_id"], space_id, charged_cents=500 + n,
                                        day=date(2027, 4, 5 + n))) for n in range(8)]
    audits = [assert_verify_clean(svc.runtime.db) for _ in range(8)]
    await asyncio.gather(*(x for pair in zip(bookings, audits, strict=True) for x in pair))


async def test_a_subsidy_for_use_after_a_revocation_left_paid_is_named(svc: Vouchers) -> None:
    """A revocation as it was before the clawback (the voucher ended, its future bookings
    still paid): the ledger balances, so only the dates tell. A proper revocation verifies."""
    history = await _history(svc)
    async with svc.runtime.db.acquire() as conn:
        kept = await conn.fetchval("SELECT id FROM redemptions WHERE source_id = $1",
                                   history["booking_id"])
        await conn.execute("UPDATE vouchers SET status = 'revoked', ended_at = $2, "
                           "end_reason = 'false_declaration' WHERE id = $1",
                           UUID(history["voucher_id"]), svc.clock())
    named = await _named(svc)
    assert [m for m in named if m.startswith(f"redemption_after_end: redemption {kept}: "
                                             "used on 2027-03-02")], named
    assert all(m.startswith("redemption_after_end:") for m in named), named


async def test_a_revocation_that_reversed_what_came_after_it_verifies(svc: Vouchers) -> None:
    history = await _history(svc)
    svc.clock.now = datetime(2027, 3, 2, 22, 30, tzinfo=UTC)  # 3 March in Rome
    revoked = await svc.client.post(f"/v1/vouchers/{history['voucher_id']}/revoke",
                                    headers=OFFICER)
    assert revoked.status_code == 200, revoked.text
    # 2 March (before) stays paid; 4 March (after) was given back.
    assert revoked.json()["used_cents"] == 2_000 // 2
    await assert_verify_clean(svc.runtime.db)
