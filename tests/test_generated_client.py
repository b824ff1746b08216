"""A partner generates a Python client from membership's OpenAPI (openapi-python-client), imports
it, and drives one happy path with it: registration, a plan, a membership, a page of them, and
a refusal read as the typed error body."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import httpx
import pytest

from cowork.devtools import Infra
from cowork.membership.app import MembershipSettings, create_app
from cowork.shared.auth import issue_token
from cowork.shared.settings import LOCAL_DEV_JWT_SECRET

pytestmark = [pytest.mark.infra]


def generate_client(spec: dict, folder: Path, package: str) -> None:
    (folder / "spec.json").write_text(json.dumps(spec))
    (folder / "config.json").write_text(json.dumps({"post_hooks": [], "project_name_override":
                                                    package, "package_name_override": package}))
    generator = Path(sys.executable).parent / "openapi-python-client"
    result = subprocess.run([str(generator), "generate", "--path", "spec.json", "--meta", "none",
                             "--output-path", package, "--config", "config.json"],
                            cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout, result.stdout


def _bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(LOCAL_DEV_JWT_SECRET, sub=sub, roles=[role])}"}


async def test_a_generated_client_drives_a_happy_path(infra: Infra, database_url: str,
                                                      topic_prefix: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(MembershipSettings(database_url=database_url,
                                        kafka_bootstrap=infra.kafka_bootstrap,
                                        topic_prefix=topic_prefix, run_scheduler=False,
                                        log_json=False))
    generate_client(app.openapi(), tmp_path, "membership_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = importlib.import_module("membership_client")
    members = importlib.import_module("membership_client.api.members")
    plans = importlib.import_module("membership_client.api.plans")
    memberships = importlib.import_module("membership_client.api.memberships")
    models = importlib.import_module("membership_client.models")
    for module in ("members.register", "members.read_member", "plans.create_plan",
                   "memberships.buy", "memberships.memberships"):
        importlib.import_module(f"membership_client.api.{module}")

    def client(headers: dict[str, str]) -> object:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://membership", headers=headers)
        return gen.Client(base_url="http://membership").set_async_httpx_client(http)

    async with app.router.lifespan_context(app):
        anonymous, staff = client({}), client(_bearer("staff", "staff-1"))
        member = await members.register.asyncio(client=anonymous, body=models.NewMember(
            kind=models.NewMemberKind.PERSON, full_name="Utente Generato",
            email="generato@example.org", tax_code="VRDLCU80C01F965J",
            consents=models.Consents(privacy=True)))
        assert isinstance(member, models.MemberOut), member
        plan = await plans.create_plan.asyncio(client=staff, body=models.NewPlan(
            code="monthly", name="Monthly", kind=models.NewPlanKind.MONTHLY, price_cents=15000,
            resource_kinds=[models.NewPlanResourceKindsItem.HOT_DESK]))
        assert isinstance(plan, models.PlanOut) and plan.price_cents == 15000

        own = client(_bearer("member", str(member.id)))
        bought = await memberships.buy.asyncio(
            str(member.id), client=own,
            body=models.NewMembership(plan_code="monthly", starts_on=date(2027, 1, 31)))
        assert isinstance(bought, models.MembershipOut) and bought.status == "active"
        page = await memberships.memberships.asyncio(str(member.id), client=own, limit=10)
        assert isinstance(page, models.PageMembershipOut)
        assert [m.id for m in page.items] == [bought.id] and page.next_cursor is None

        stranger = client(_bearer("member", "5f0c6a9e-1b2c-4d3e-8f70-0a1b2c3d4e5f"))
        refused = await members.read_member.asyncio(str(member.id), client=stranger)
        assert isinstance(refused, models.ErrorBody)
        assert refused.error.code == "forbidden"


async def test_a_generated_booking_client_drives_a_happy_path(
        infra: Infra, database_url: str, topic_prefix: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cowork.booking.app import BookingSettings
    from cowork.booking.app import create_app as create_booking

    app = create_booking(BookingSettings(database_url=database_url,
                                         kafka_bootstrap=infra.kafka_bootstrap,
                                         topic_prefix=topic_prefix, run_scheduler=False,
                                         log_json=False))
    generate_client(app.openapi(), tmp_path, "booking_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = importlib.import_module("booking_client")
    models = importlib.import_module("booking_client.models")
    api = {name: importlib.import_module(f"booking_client.api.{name}") for name in (
        "spaces.create_space", "spaces.create_resource", "spaces.spaces",
        "bookings.availability")}

    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://booking",
                             headers=_bearer("staff", "staff-1"))
    staff = gen.Client(base_url="http://booking").set_async_httpx_client(http)
    async with app.router.lifespan_context(app):
        hours = models.NewSpaceOpeningHours.from_dict({"mon": [["08:00", "19:00"]]})
        space = await api["spaces.create_space"].asyncio(client=staff, body=models.NewSpace(
            name="Biblioteca", address="Via Marconi 36", opening_hours=hours))
        assert isinstance(space, models.SpaceOut), space
        desk = await api["spaces.create_resource"].asyncio(
            str(space.id), client=staff, body=models.NewResource(
                name="Desk 1", kind=models.NewResourceKind.HOT_DESK, price_per_hour_cents=300))
        assert isinstance(desk, models.ResourceOut), desk
        page = await api["spaces.spaces"].asyncio(client=staff, limit=5)
        assert isinstance(page, models.PageSpaceOut) and [s.id for s in page.items] == [space.id]
        free = await api["bookings.availability"].asyncio(str(desk.id), client=staff,
                                                           date=date(2027, 3, 1))
        assert isinstance(free, models.AvailabilityOut)
        assert [(f.start.isoformat(), f.end.isoformat()) for f in free.free] == [
            ("2027-03-01T08:00:00+01:00", "2027-03-01T19:00:00+01:00")]
