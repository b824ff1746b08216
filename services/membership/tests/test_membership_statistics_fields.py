"""member.registered carries the age band community's open data counts by (never the birth
date): from the codice fiscale for a person, none for an organisation."""

from __future__ import annotations

import pytest
from membership_support import NEWCOMER, ORGANISATION, PERSON, Membership

from cowork.shared.events import contracts as ev

pytestmark = [pytest.mark.infra]


async def test_member_registered_carries_the_age_band_and_never_the_birth_date(
        svc: Membership) -> None:
    for body in (PERSON, NEWCOMER, ORGANISATION):
        response = await svc.client.post("/v1/members", json=body)
        assert response.status_code == 201, response.text
    rows = await svc.runtime.db.fetch("SELECT payload FROM outbox WHERE type = $1 ORDER BY seq",
                                      ev.MemberRegistered.event_type)
    payloads = [row["payload"] for row in rows]
    # Born 1 January 1990 and 10 December 1985, registering on 31 January 2027.
    assert [p["age_band"] for p in payloads] == ["35-44", "35-44", None]
    for payload in payloads:
        assert not {"birth_date", "tax_code"} & set(payload)
