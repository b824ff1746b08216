"""Calls written exactly as the first v1 wording has them (docs/api/ aliases), as an outside client reading only the spec
would make them (the acceptance walk of 2026-11-28 found these answered otherwise)."""

from __future__ import annotations

import pytest
from vouchers_support import OFFICER, Vouchers

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_a_revocation_needs_no_body(svc: Vouchers) -> None:
    """docs/api/ aliases: `POST /v1/vouchers/{id}/revoke (officer)` names no field, and the catalogue's
    `voucher.revoked` carries `reason|null`: a revocation without a body is a revocation."""
    programme = await svc.programme()
    _, voucher_id = await svc.granted(programme["id"])
    revoked = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke", headers=OFFICER)
    assert revoked.status_code == 200, revoked.text
    assert (revoked.json()["status"], revoked.json()["end_reason"]) == ("revoked", None)
    [event] = await svc.outbox(ev.VoucherRevoked)
    assert event["voucher_id"] == voucher_id and event["reason"] is None
    assert event["released_cents"] == 150_000
    await svc.ledger_is_balanced(programme["id"])


async def test_a_revocation_reason_is_still_a_code(svc: Vouchers) -> None:
    programme = await svc.programme()
    _, voucher_id = await svc.granted(programme["id"])
    empty = await svc.client.post(f"/v1/vouchers/{voucher_id}/revoke", json={},
                                  headers=OFFICER)
    assert empty.status_code == 200, empty.text
    _, other = await svc.granted(programme["id"])
    prose = await svc.client.post(f"/v1/vouchers/{other}/revoke",
                                  json={"reason": "Dichiarazione di Mario Rossi non veritiera"},
                                  headers=OFFICER)
    assert prose.status_code == 422 and prose.json()["error"]["field"] == "reason"
    assert (await svc.voucher(other))["status"] == "active"


async def test_the_ledger_answers_its_entries_under_the_name_api_md_gives_them(
        svc: Vouchers) -> None:
    """docs/api/ aliases: `GET /v1/programmes/{id}/ledger — entries`; `items` stays for list clients."""
    programme = await svc.programme()
    await svc.granted(programme["id"])
    ledger = (await svc.client.get(f"/v1/programmes/{programme['id']}/ledger",
                                   headers=OFFICER)).json()
    assert [e["movement"] for e in ledger["entries"]] == ["open", "grant"]
    assert ledger["entries"] == ledger["items"]
    first = (await svc.client.get(f"/v1/programmes/{programme['id']}/ledger?limit=1",
                                  headers=OFFICER)).json()
    assert first["entries"] == first["items"] and len(first["entries"]) == 1
    assert first["next_cursor"] is not None
