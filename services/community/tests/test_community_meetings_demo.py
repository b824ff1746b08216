"""The demo data of `make run`: the 14 February 2015 meeting with its minutes, and a next one
open to everyone; loading it twice changes nothing."""

from __future__ import annotations

import pytest
from community_support import Community

from cowork.community import demo

pytestmark = [pytest.mark.infra]


async def test_the_demo_meetings_load_once(svc: Community) -> None:
    await demo.load(svc.runtime)
    await demo.load(svc.runtime)
    items = (await svc.client.get("/v1/meetings")).json()["items"]
    assert [m["id"] for m in items] == [str(demo.FIRST_MEETING_ID), str(demo.NEXT_MEETING_ID)]
    first, upcoming = items
    assert (first["start"], first["end"]) == ("2015-02-14T08:00:00+00:00",
                                              "2015-02-14T11:00:00+00:00")
    assert (first["status"], first["attendance"]) == ("closed", demo.ATTENDANCE)
    assert "partite IVA" in first["minutes"]["it"]
    assert "Via Marconi 36" in first["address"]
    assert (upcoming["status"], upcoming["capacity"], upcoming["open_to"]) == \
        ("published", 40, "everyone")
