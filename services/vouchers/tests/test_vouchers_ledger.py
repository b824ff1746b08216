"""The ledger's invariants held by PostgreSQL itself, and the budget stages through grants,
ranking, revocation and the waiting list."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import pytest
from vouchers_support import OFFICER, Vouchers, member_token

from cowork.vouchers.domain.ledger import Account, Movement, Posting
from cowork.vouchers.store.ledger import insert_ledger_transaction

pytestmark = [pytest.mark.infra]


async def test_the_ledger_refuses_updates_deletes_and_unbalanced_transactions(svc: Vouchers
                                                                             ) -> None:
    programme = await svc.programme()
    async with svc.runtime.db.acquire() as conn:
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await conn.execute("UPDATE ledger_postings SET amount_cents = 1")
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await conn.execute("DELETE FROM ledger_transactions")
        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            async with conn.transaction():
                tx = uuid4()
                await insert_ledger_transaction(
                    conn, transaction_id=tx, programme_id=UUID(programme["id"]),
                    movement=Movement.GRANT, amount_cents=100,
                    recorded_at=svc.clock(), facts={},
                    postings=[Posting(Account.AVAILABLE, -100),
                              Posting(Account.COMMITTED, 99)])
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE programme_balances SET available_cents = -1")
    await svc.ledger_is_balanced(programme["id"])


async def test_the_last_grant_is_reduced_to_what_is_left_and_the_programme_closes(
        svc: Vouchers) -> None:
    programme = await svc.programme(budget_cents=250_000)
    await svc.granted(programme["id"])
    member_id = await svc.member()
    last = (await svc.apply(programme["id"], member_id)).json()
    assert last["status"] == "granted" and last["reasons"] == ["budget_reduced"]
    assert (await svc.voucher(last["voucher_id"]))["amount_cents"] == 100_000
    closed = await svc.read_programme(programme["id"])
    assert (closed["status"], closed["available_cents"], closed["committed_cents"]) == \
        ("closed", 0, 250_000)
    late = await svc.apply(programme["id"], await svc.member())
    assert late.status_code == 409 and late.json()["error"]["code"] == "programme_closed"
    await svc.ledger_is_balanced(programme["id"])


async def test_revoking_releases_the_remainder_to_available(svc: Vouchers) -> None:
    programme = await svc.programme()
    member_id, voucher_id = await svc.granted(programme["id"])
    forbidden = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke",
                                      json={"reason": "false_declaration"},
                                      headers=member_token(member_id))
    assert forbidden.status_code == 403
    revoked = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke",
                                    json={"reason": "false_declaration"}, headers=OFFICER)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked" and revoked.json()["released_cents"] == 150_000
    after = await svc.read_programme(programme["id"])
    assert (after["available_cents"], after["committed_cents"]) == (29_824_000, 0)
    again = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke",
                                  json={"reason": "false_declaration"}, headers=OFFICER)
    assert again.status_code == 409
    await svc.ledger_is_balanced(programme["id"])


TUSCANY = {"name": "Giovanisì coworking", "budget_cents": 400_000, "coverage_pct": 100,
           "cap_per_beneficiary_cents": 200_000, "selection_mode": "ranked",
           "application_deadline": "2027-03-31", "valid_from": "2027-04-01",
           "valid_until": "2028-03-31", "max_duration_months": 12,
           "criteria": ["younger_first"],
           "eligibility": {"min_age": 18, "max_age": 40, "disability_lifts_max_age": True,
                           "residence_istat": ["048017", "048033"]}}


async def test_ranked_grants_in_rank_order_at_close_and_funds_the_waiting_list(
        svc: Vouchers) -> None:
    programme = await svc.programme(**TUSCANY)
    births = ["1990-01-01", "2000-01-01", "1995-01-01", "1988-01-01"]
    applied = {}
    for birth in births:
        member_id = await svc.member()
        response = await svc.apply(programme["id"], member_id, birth_date=birth,
                                   residence_istat="048017")
        assert response.json()["status"] == "pending", response.text
        applied[birth] = response.json()["id"]
        svc.clock.advance(minutes=1)
    older = await svc.apply(programme["id"], await svc.member(), birth_date="1960-01-01",
                            residence_istat="048017", disability=True)
    assert older.json()["status"] == "pending"  # no upper age limit with a disability
    closed = await svc.client.post(f"/v1/programmes/{programme['id']}/close", headers=OFFICER)
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"

    async def status(application_id: str) -> dict:
        return (await svc.client.get(f"/v1/applications/{application_id}",
                                     headers=OFFICER)).json()

    youngest, second = await status(applied["2000-01-01"]), await status(applied["1995-01-01"])
    assert youngest["status"] == second["status"] == "granted"
    assert [youngest["rank_position"], second["rank_position"]] == [1, 2]
    third = await status(applied["1990-01-01"])
    assert (third["status"], third["rank_position"]) == ("waitlisted", 3)
    assert (await status(applied["1988-01-01"]))["status"] == "waitlisted"
    assert (await svc.read_programme(programme["id"]))["available_cents"] == 0

    await svc.client.post(f"/v1/vouchers/{youngest['voucher_id']}/revoke",
                          json={"reason": "beneficiary_request"}, headers=OFFICER)
    funded = await status(applied["1990-01-01"])
    assert funded["status"] == "granted" and funded["voucher_id"]
    assert (await status(applied["1988-01-01"]))["status"] == "waitlisted"
    await svc.ledger_is_balanced(programme["id"])


async def test_the_ledger_page_and_its_balances_are_one_snapshot(
        svc: Vouchers, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 19 case 10: a redemption that commits between reading the balances and reading
    the entries must not show in one and not the other. The page holds every entry, so its
    postings summed per account are the balances it shows."""
    from cowork.vouchers import store

    programme = await svc.programme()
    space_id = await svc.space()
    member_id, _ = await svc.granted(programme["id"])
    read_page = store.ledger_page

    async def a_redemption_commits_in_between(*args: object, **kwargs: object) -> object:
        await svc.deliver(svc.booking(member_id, space_id, charged_cents=2_000))
        return await read_page(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "ledger_page", a_redemption_commits_in_between)
    page = (await svc.client.get(f"/v1/programmes/{programme['id']}/ledger",
                                 headers=OFFICER)).json()
    summed: dict[str, int] = {}
    for entry in page["entries"]:
        for account, cents in entry["postings"].items():
            summed[account] = summed.get(account, 0) + cents
    shown = page["balances"]
    assert (summed.get("available", 0), summed.get("committed", 0),
            summed.get("disbursed", 0)) == (shown["available_cents"], shown["committed_cents"],
                                            shown["disbursed_cents"])
