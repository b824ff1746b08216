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


def _typed(result: object, package: str) -> bool:
    """The generated client parsed the answer into one of its models, not a bare dict."""
    return type(result).__module__.startswith(f"{package}.models")


def _request_model(spec: dict, models: object, path: str, method: str) -> type:
    ref = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return getattr(models, ref["$ref"].rsplit("/", 1)[1])


async def test_a_generated_vouchers_client_reads_typed_programmes(
        infra: Infra, database_url: str, topic_prefix: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cowork.vouchers.app import VouchersSettings
    from cowork.vouchers.app import create_app as create_vouchers

    app = create_vouchers(VouchersSettings(database_url=database_url,
                                           kafka_bootstrap=infra.kafka_bootstrap,
                                           topic_prefix=topic_prefix, run_scheduler=False,
                                           log_json=False))
    spec = app.openapi()
    generate_client(spec, tmp_path, "vouchers_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = importlib.import_module("vouchers_client")
    models = importlib.import_module("vouchers_client.models")
    api = {name: importlib.import_module(f"vouchers_client.api.programmes.{name}")
           for name in ("open_programme", "programme", "programmes")}
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://vouchers",
                             headers=_bearer("officer", "officer-1"))
    officer = gen.Client(base_url="http://vouchers").set_async_httpx_client(http)
    body = _request_model(spec, models, "/v1/programmes", "post").from_dict({
        "name": "Voucher coworking Milano 2013", "budget_cents": 29_824_000,
        "coverage_pct": 50, "cap_per_beneficiary_cents": 150_000,
        "cap_per_year_cents": 150_000, "valid_from": "2027-03-01",
        "valid_until": "2028-12-31", "max_duration_months": 12, "selection_mode": "first_come",
        "eligibility": {"member_kinds": ["person"], "min_age": 18}})
    async with app.router.lifespan_context(app):
        created = await api["open_programme"].asyncio(client=officer, body=body)
        assert _typed(created, "vouchers_client"), created
        read = await api["programme"].asyncio(str(created.id), client=officer)
        assert _typed(read, "vouchers_client") and read.budget_cents == 29_824_000
        page = await api["programmes"].asyncio(client=officer)
        assert _typed(page, "vouchers_client") and [p.id for p in page.items] == [created.id]


async def test_a_generated_notifications_client_drives_a_happy_path(
        infra: Infra, database_url: str, topic_prefix: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A partner subscribes a webhook; a member sets their preferences and reads their
    delivery log; someone else's delivery is the typed 404."""
    from uuid import uuid4

    from cowork.notifications.app import NotificationsSettings
    from cowork.notifications.app import create_app as create_notifications

    app = create_notifications(NotificationsSettings(
        database_url=database_url, kafka_bootstrap=infra.kafka_bootstrap,
        topic_prefix=topic_prefix, run_scheduler=False, log_json=False))
    generate_client(app.openapi(), tmp_path, "notifications_client")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = importlib.import_module("notifications_client")
    models = importlib.import_module("notifications_client.models")
    api = {name: importlib.import_module(f"notifications_client.api.{name}") for name in (
        "webhooks.create_webhook", "webhooks.list_webhooks", "preferences.set_preferences",
        "preferences.get_preferences", "deliveries.deliveries", "deliveries.read_delivery")}

    def client(headers: dict[str, str]) -> object:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://notifications", headers=headers)
        return gen.Client(base_url="http://notifications").set_async_httpx_client(http)

    member, delivery = str(uuid4()), uuid4()
    async with app.router.lifespan_context(app):
        partner = client(_bearer("partner", "partner-1"))
        created = await api["webhooks.create_webhook"].asyncio(
            client=partner, body=models.NewSubscription(
                url="https://partner.example.com/cowork",
                event_types=["cowork.booking.booking.confirmed.v1"]))
        assert isinstance(created, models.NewSubscriptionOut), created
        assert created.secret.startswith("whsec_") and created.active
        listed = await api["webhooks.list_webhooks"].asyncio(client=partner)
        assert [s.id for s in listed] == [created.id]
        assert all(isinstance(s, models.SubscriptionOut) for s in listed)

        own = client(_bearer("member", member))
        chosen = await api["preferences.set_preferences"].asyncio(
            member, client=own, body=models.Preferences(opted_out=["reminders"]))
        assert isinstance(chosen, models.PreferencesOut) and chosen.opted_out == ["reminders"]
        stored = await api["preferences.get_preferences"].asyncio(member, client=own)
        assert isinstance(stored, models.PreferencesOut) and "reminders" in stored.categories

        async with app.state.runtime.db.acquire() as conn:  # as the dispatcher leaves a mail
            await conn.execute(
                "INSERT INTO deliveries (id, cause_event_id, cause_event_type, channel, "
                "recipient_ref, template, subject_ref, payload, status, attempts, "
                "next_attempt_at, created_at, sent_at, settled_at) VALUES ($1, $2, "
                "'cowork.vouchers.voucher.granted.v1', 'email', $3, 'voucher_granted', $4, "
                "'{}'::jsonb, 'sent', 1, now(), now(), now(), now())",
                delivery, uuid4(), member, str(uuid4()))
        log = await api["deliveries.deliveries"].asyncio(client=own)
        assert [(d.id, d.status, d.last_error) for d in log] == [(delivery, "sent", None)]
        assert isinstance(log[0], models.DeliveryOut) and log[0].settled_at is not None

        stranger = client(_bearer("member", str(uuid4())))
        refused = await api["deliveries.read_delivery"].asyncio(str(delivery), client=stranger)
        assert isinstance(refused, models.ErrorBody) and refused.error.code == "not_found"
