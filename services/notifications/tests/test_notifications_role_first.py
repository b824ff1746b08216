"""A caller without the role learns nothing of what an endpoint validates (issue 20, smaller
findings): 403 before the body is read, never a 422 describing the input."""

from __future__ import annotations

import pytest
from notifications_support import Notifications, bearer

pytestmark = [pytest.mark.infra]


@pytest.mark.parametrize("body", [{"url": "not a url", "event_types": []}, {"nonsense": 0}])
async def test_staff_creating_a_webhook_is_403_whatever_the_body(svc: Notifications,
                                                                  body: dict) -> None:
    response = await svc.client.post("/v1/webhooks", json=body, headers=bearer("staff"))
    assert response.status_code == 403, response.text
    partner = await svc.client.post("/v1/webhooks", json=body, headers=bearer("partner"))
    assert partner.status_code == 422, partner.text
