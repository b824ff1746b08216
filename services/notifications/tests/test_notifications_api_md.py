"""Calls written exactly as the first v1 wording has them (docs/api/ aliases), as an outside client reading only the spec
would make them (the acceptance walk of 2026-11-28 found these answered otherwise)."""

from __future__ import annotations

from uuid import uuid4

import pytest
from notifications_support import Notifications, bearer

pytestmark = [pytest.mark.infra]


async def test_preferences_take_the_categories_opted_out_of_as_categories(
        svc: Notifications) -> None:
    """docs/api/ aliases: `PUT /v1/members/{id}/preferences — categories opted out of`."""
    member = uuid4()
    path, headers = f"/v1/members/{member}/preferences", bearer("member", str(member))
    response = await svc.client.put(path, json={"categories": ["reminders", "membership"]},
                                    headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["opted_out"] == ["membership", "reminders"]
    stored = (await svc.client.get(path, headers=headers)).json()
    assert stored["opted_out"] == ["membership", "reminders"]
    # The OpenAPI's name still works, and the rules are the same under either name.
    assert (await svc.client.put(path, json={"opted_out": []}, headers=headers)).status_code == 200
    assert (await svc.client.get(path, headers=headers)).json()["opted_out"] == []
    essential = await svc.client.put(path, json={"categories": ["essential"]}, headers=headers)
    assert essential.status_code == 422
    assert essential.json()["error"]["field"] == "categories"
    both = await svc.client.put(path, json={"categories": ["reminders"], "opted_out": []},
                                headers=headers)
    assert both.status_code == 422 and both.json()["error"]["field"] == "categories"
    assert (await svc.client.get(path, headers=headers)).json()["opted_out"] == []
