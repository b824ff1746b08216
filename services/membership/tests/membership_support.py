from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from cowork.devtools import Infra, ManualClock
from cowork.devtools.personal_data import personal_values
from cowork.membership.app import MembershipSettings, create_app
from cowork.shared.auth import issue_token
from cowork.shared.service import ServiceRuntime
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET


@dataclass
class Membership:
    client: httpx.AsyncClient
    runtime: ServiceRuntime
    clock: ManualClock
    topic_prefix: str
    bootstrap: str

    def token(self, role: str = "staff", sub: str = "staff-1") -> dict[str, str]:
        token = issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])
        return {"Authorization": f"Bearer {token}"}

    def as_member(self, member_id: str) -> dict[str, str]:
        return self.token("member", member_id)


@pytest.fixture
async def svc(infra: Infra, database_url: str, topic_prefix: str) -> AsyncIterator[Membership]:
    clock = ManualClock(datetime(2027, 1, 31, 9, 0, tzinfo=UTC))
    settings = MembershipSettings(database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
                                  topic_prefix=topic_prefix, run_scheduler=False,
                                  outbox_poll_seconds=0.2, log_json=False)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://membership") as client:
            yield Membership(client, app.state.runtime, clock, topic_prefix,
                             infra.kafka_bootstrap)


PERSON = {"kind": "person", "full_name": "Giulia Bianchi", "email": "giulia@example.org",
          "phone": "+39 0143 000001", "language": "it", "tax_code": "BNCGLI90A41F965D",
          "residence_istat": "006114", "consents": {"privacy": True, "marketing": False}}
ORGANISATION = {"kind": "organisation", "full_name": "Cooperativa Gavi Digitale",
                "email": "info@gavi.example.org", "tax_code": "02114050061",
                "consents": {"privacy": True}}
# A second person, and a tax code nobody registers (an attempt that reuses an e-mail).
NEWCOMER = {**PERSON, "full_name": "Mario Rossi", "email": "mario.rossi@example.org",
            "tax_code": "RSSMRA85T10A562S", "phone": "+39 0143 000003"}
UNUSED_TAX_CODE = "FRRLNE75D50F965X"
MONTHLY = {"code": "monthly", "name": "Monthly", "kind": "monthly", "price_cents": 15000,
           "resource_kinds": ["hot_desk", "meeting_room"], "max_bookings_per_day": 2,
           "meeting_room_minutes_per_month": 240}

# What the suites send about people, in the forms a service might log it (the log check).
PERSONAL_DATA = [*personal_values(PERSON, ORGANISATION, NEWCOMER), "anna rossi",
                 "anna@gavi.example.org", "vrdlcu80c01f965j", "0143 000001", UNUSED_TAX_CODE,
                 "Someone Else"]
