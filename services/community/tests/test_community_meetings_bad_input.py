"""Bad input is a 422 naming the field, never a 500 and never half-written: NUL bytes, text
too long, the end before the start, capacity 0, privacy not given, a bad e-mail."""

from __future__ import annotations

import pytest
from community_support import OFFICER, Community, meeting_body, person

pytestmark = [pytest.mark.infra]

MEETINGS = [
    ({"title": {"it": "a\x00b"}}, "title.it"),
    ({"title": {"it": "x" * 201}}, "title.it"),
    ({"description": {"it": "x" * 5001}}, "description.it"),
    ({"address": "Via\x00Marconi"}, "address"),
    ({"capacity": 0}, "capacity"),
    ({"capacity": 10_001}, "capacity"),
    ({"capacity": "3"}, "capacity"),
    ({"end": "2027-03-15T08:00:00+00:00"}, "end"),
    ({"start": "9999-12-31T00:00:00+00:00"}, "start"),
    ({"open_to": "friends"}, "open_to"),
    ({"registration_opens": "2027-04-01T00:00:00+00:00"}, "registration_opens"),
]


@pytest.mark.parametrize(("change", "field"), MEETINGS, ids=[f for _, f in MEETINGS])
async def test_a_bad_meeting_names_its_field(svc: Community, change: dict[str, object],
                                             field: str) -> None:
    response = await svc.client.post("/v1/meetings", json=meeting_body(**change),
                                     headers=OFFICER)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert await svc.runtime.db.fetchval("SELECT count(*) FROM meetings") == 0


REGISTRATIONS = [
    ({"full_name": "Mario\x00Rossi"}, "full_name"),
    ({"full_name": "x" * 201}, "full_name"),
    ({"email": "not-an-address"}, "email"),
    ({"email": "a" * 250 + "@example.org"}, "email"),
    ({"consents": {"privacy": False}}, "consents.privacy"),
    ({"consents": {}}, "consents.privacy"),
    ({"language": "de"}, "language"),
    ({"profile": {"who": "alien"}}, "profile.who"),
    ({"profile": {"who": "citizen", "residence_istat": "12"}}, "profile.residence_istat"),
]


@pytest.mark.parametrize(("change", "field"), REGISTRATIONS, ids=[f for _, f in REGISTRATIONS])
async def test_a_bad_registration_names_its_field(svc: Community, change: dict[str, object],
                                                  field: str) -> None:
    meeting = await svc.meeting()
    response = await svc.client.post(f"/v1/meetings/{meeting['id']}/registrations",
                                     json={**person(1), **change})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert (await svc.read(meeting["id"]))["seats_left"] == meeting["seats_left"]


async def test_bad_links_and_filters(svc: Community) -> None:
    confirm = await svc.client.get("/v1/registrations/confirm", params={"token": "a\x00" * 12})
    assert (confirm.status_code, confirm.json()["error"]["field"]) == (422, "token")
    listed = await svc.client.get("/v1/meetings", params={"from": "yesterday"})
    assert (listed.status_code, listed.json()["error"]["field"]) == (422, "from")
    unknown = await svc.client.get("/v1/meetings/not-a-uuid")
    assert unknown.status_code == 422
