"""HTTP API v1 of the vouchers service (API.md `## vouchers`). Officers (the municipality's
staff) run programmes, read the ledger and issue statements; members apply and see only their
own applications and vouchers."""

# No `from __future__ import annotations`: FastAPI resolves the dependency aliases at runtime.

import base64
import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cowork.shared.api import v1_router
from cowork.shared.auth import Caller, Principal, require_roles, require_self_or_roles
from cowork.shared.http import ApiError, invalid, not_found
from cowork.shared.service import ServiceRuntime
from cowork.vouchers import commands, domain, store

Kind = Literal["hot_desk", "fixed_desk", "meeting_room", "phone_booth", "event_room"]
# PostgreSQL text cannot hold NUL: refused here as a 422 rather than failing in the database.
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]+$")]
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
Istat = Annotated[str, Field(pattern=r"^[0-9]{6}$", description="ISTAT municipality code")]
Cents = Annotated[int, Field(ge=0, le=1_000_000_000_000)]
PositiveCents = Annotated[int, Field(ge=1, le=1_000_000_000_000)]
_PERIOD = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def _in_range(day: date | None, field: str, low: int = 2000, high: int = 2100) -> date | None:
    if day is not None and not low <= day.year <= high:
        raise ValueError(f"{field} must fall between {low} and {high}")
    return day


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Eligibility(Strict):
    residence_istat: Annotated[list[Istat], Field(max_length=8000)] = []
    min_age: Annotated[int, Field(ge=0, le=150)] | None = None
    max_age: Annotated[int, Field(ge=0, le=150)] | None = None
    disability_lifts_max_age: bool = False
    statuses: Annotated[list[Code], Field(max_length=20)] = []
    member_kinds: list[Literal["person", "organisation"]] = []
    requires_partita_iva: bool = False
    partita_iva_max_age_months: Annotated[int, Field(ge=1, le=600)] | None = None
    partita_iva_grace_days: Annotated[int, Field(ge=1, le=365)] | None = None

    @model_validator(mode="after")
    def ages_in_order(self) -> "Eligibility":
        if self.min_age is not None and self.max_age is not None and self.max_age < self.min_age:
            raise ValueError("max_age is below min_age")
        return self


class Subsidises(Strict):
    memberships: bool = False
    bookings: bool = True
    resource_kinds: list[Kind] = Field(default_factory=list,
                                       description="empty: every kind of resource")


class NewProgramme(Strict):
    name: Text
    budget_cents: PositiveCents
    coverage_pct: Annotated[int, Field(ge=1, le=100)]
    cap_per_beneficiary_cents: PositiveCents
    cap_per_year_cents: PositiveCents | None = None
    kind_caps_cents: dict[Kind, Cents] = Field(default_factory=dict)
    min_eligible_cost_cents: Cents = 0
    valid_from: date
    valid_until: date
    max_duration_months: Annotated[int, Field(ge=1, le=120)] | None = None
    selection_mode: Literal["first_come", "ranked"]
    application_deadline: date | None = None
    criteria: list[domain.Criterion] = Field(
        default_factory=list, description="ranking criteria, best first (ranked mode); an "
        "object {min_desks, ranking: [...]} is accepted too")
    rna_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]{1,50}$")] | None = None
    eligibility: Eligibility = Field(default_factory=Eligibility)
    subsidises: Subsidises = Field(default_factory=Subsidises)
    accredited_space_ids: Annotated[list[UUID], Field(max_length=1000)] | None = Field(
        None, description="which accredited spaces count; all of them when omitted")
    min_desks: Annotated[int, Field(ge=0, le=100_000)] = 0

    @model_validator(mode="before")
    @classmethod
    def criteria_object(cls, data: Any) -> Any:
        """API.md's "criteria such as min_desks": an object is read as {min_desks, ranking}."""
        if isinstance(data, dict) and isinstance(data.get("criteria"), dict):
            criteria = dict(data["criteria"])
            data = {**data, "criteria": criteria.pop("ranking", [])}
            if "min_desks" in criteria:
                data.setdefault("min_desks", criteria.pop("min_desks"))
            if criteria:
                raise ValueError(f"unknown criteria: {', '.join(sorted(criteria))}")
        return data

    @field_validator("valid_from", "valid_until", "application_deadline")
    @classmethod
    def plausible_date(cls, value: date | None) -> date | None:
        return _in_range(value, "a programme date")

    @model_validator(mode="after")
    def consistent(self) -> "NewProgramme":
        if self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        if self.cap_per_beneficiary_cents > self.budget_cents:
            raise ValueError("cap_per_beneficiary_cents is above the budget")
        if self.application_deadline and self.application_deadline > self.valid_until:
            raise ValueError("application_deadline is after valid_until")
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError("criteria repeat")
        return self


class Declared(Strict):
    birth_date: date | None = None
    residence_istat: Istat | None = None
    status: Code | list[Code] | None = Field(None, description="e.g. unemployed, new_partita_iva")
    statuses: Annotated[list[Code], Field(max_length=20)] = []
    disability: bool = False
    member_kind: Literal["person", "organisation"] | None = Field(
        None, description="used only while the service has not yet learnt the member's kind "
        "from membership's events")
    partita_iva_opened_on: date | None = None
    tax_code: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{11}$|^[A-Za-z0-9]{16}$")] | None = \
        Field(None, description="codice fiscale or partita IVA: the de minimis undertaking")

    @field_validator("birth_date", "partita_iva_opened_on")
    @classmethod
    def plausible_date(cls, value: date | None) -> date | None:
        return _in_range(value, "a declared date", 1900, 2100)

    def stored(self) -> dict[str, Any]:
        statuses = set(self.statuses)
        if isinstance(self.status, str):
            statuses.add(self.status)
        elif self.status:
            statuses.update(self.status)
        return {"birth_date": self.birth_date.isoformat() if self.birth_date else None,
                "residence_istat": self.residence_istat, "statuses": sorted(statuses),
                "disability": self.disability, "member_kind": self.member_kind,
                "partita_iva_opened_on": self.partita_iva_opened_on.isoformat()
                if self.partita_iva_opened_on else None,
                "tax_code": self.tax_code}


class NewApplication(Strict):
    member_id: UUID
    declarations: Declared = Field(default_factory=Declared)


class Revocation(Strict):
    # Optional: API.md names no body for a revocation and EVENTS.md's `voucher.revoked` has
    # `reason|null`. A code, not free text: it travels on the event topic, where free text
    # could carry personal data.
    reason: Code | None = Field(None, description="a reason code, e.g. false_declaration")


class PartitaIva(Strict):
    opened_on: date

    @field_validator("opened_on")
    @classmethod
    def plausible_date(cls, value: date) -> date:
        _in_range(value, "opened_on", 1900, 2100)
        return value


class NewAccreditation(Strict):
    space_id: UUID
    from_: date = Field(alias="from")
    reason: Text
    min_desks: Annotated[int, Field(ge=0, le=100_000)] | None = Field(
        None, description="refuse when booking's events show fewer desks at the space")

    @field_validator("from_")
    @classmethod
    def plausible_date(cls, value: date) -> date:
        _in_range(value, "from")
        return value


# ---------------------------------------------------------------- representations


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def programme_view(p: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(p["id"]), "name": p["name"], "status": p["status"],
        "budget_cents": p["budget_cents"], "available_cents": p["available_cents"],
        "committed_cents": p["committed_cents"], "disbursed_cents": p["disbursed_cents"],
        "coverage_pct": p["coverage_pct"], "cap_per_beneficiary_cents": p["cap_per_beneficiary_cents"],
        "cap_per_year_cents": p["cap_per_year_cents"], "kind_caps_cents": p["kind_caps_cents"],
        "min_eligible_cost_cents": p["min_eligible_cost_cents"],
        "valid_from": _iso(p["valid_from"]), "valid_until": _iso(p["valid_until"]),
        "max_duration_months": p["max_duration_months"], "selection_mode": p["selection_mode"],
        "application_deadline": _iso(p["application_deadline"]), "criteria": list(p["criteria"]),
        "rna_code": p["rna_code"], "eligibility": p["eligibility"], "subsidises": p["subsidises"],
        "accredited_space_ids": [str(s) for s in p["accredited_space_ids"]]
        if p["accredited_space_ids"] is not None else None,
        "min_desks": p["min_desks"], "opened_at": _iso(p["opened_at"]),
        "closed_at": _iso(p["closed_at"]),
    }


def ledger_view(t: asyncpg.Record) -> dict[str, Any]:
    def maybe(key: str) -> str | None:
        return str(t[key]) if t[key] is not None else None

    return {"id": str(t["id"]), "seq": t["seq"], "movement": t["movement"],
            "amount_cents": t["amount_cents"], "recorded_at": _iso(t["recorded_at"]),
            "postings": t["postings"], "voucher_id": maybe("voucher_id"),
            "member_id": maybe("member_id"), "reason": t["reason"],
            "source_type": t["source_type"], "source_id": maybe("source_id"),
            "source_event_id": maybe("source_event_id"), "space_id": maybe("space_id"),
            "price_cents": t["price_cents"], "statement_period": t["statement_period"]}


def accreditation_view(a: asyncpg.Record, *, known: bool, desks: int) -> dict[str, Any]:
    view = {"id": str(a["id"]), "space_id": str(a["space_id"]), "from": _iso(a["from_date"]),
            "until": _iso(a["until_date"]), "reason": a["reason"], "known_space": known,
            "desks": desks}
    if not known:
        view["warning"] = "space_unknown: booking has not published this space's resources yet"
    return view


def statement_issue_view(s: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(s["id"]), "statement_id": str(s["id"]),
            "programme_id": str(s["programme_id"]), "period": s["period"], "status": "issued",
            "sha256": s["sha256"], "redeemed_cents": s["redeemed_cents"],
            "reversed_cents": s["reversed_cents"], "net_cents": s["net_cents"],
            "lines": s["lines"], "issued_at": _iso(s["issued_at"])}


# ---------------------------------------------------------------- pagination


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def decode_cursor(cursor: str | None) -> Any:
    if cursor is None:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("cursor", "not a cursor this API gave") from exc


def time_id_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    key = decode_cursor(cursor)
    if key is None:
        return None
    try:
        moment = datetime.fromisoformat(key[0])
        if moment.tzinfo is None:
            raise ValueError("naive time")
        return moment, UUID(key[1])
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise invalid("cursor", "not a cursor this API gave") from exc


def page(items: list[dict[str, Any]], rows: list[asyncpg.Record], limit: int,
         key: Callable[[asyncpg.Record], Any]) -> dict[str, Any]:
    more = len(rows) > limit
    return {"items": items[:limit],
            "next_cursor": encode_cursor(key(rows[limit - 1])) if more else None}


Limit = Annotated[int, Query(ge=1, le=500)]


@contextlib.asynccontextmanager
async def translated_errors() -> AsyncIterator[None]:
    try:
        yield
    except commands.Refused as exc:
        raise ApiError(409, exc.code, str(exc), field=exc.field) from exc
    except domain.LedgerViolation as exc:  # refused before anything was written
        raise ApiError(409, "ledger_violation", str(exc)) from exc
    except asyncpg.UniqueViolationError as exc:
        raise ApiError(409, "conflict", "conflicts with an existing record") from exc
    except asyncpg.DeadlockDetectedError as exc:
        raise ApiError(409, "concurrent_change", "a concurrent change got in the way; "
                       "nothing was changed, try again") from exc


def router(runtime: ServiceRuntime) -> APIRouter:
    api = v1_router()

    async def in_tx(work: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        async with translated_errors(), runtime.db.acquire() as conn, conn.transaction():
            return await work(conn)

    def own_or_officer(caller: Principal, member_id: object) -> None:
        require_self_or_roles(caller, member_id, "officer")

    def member_filter(caller: Principal, member_id: UUID | None) -> UUID | None:
        """An officer lists anyone's; a member their own (member_id defaults to them)."""
        if caller.has("officer"):
            return member_id
        if member_id is None and caller.has("member"):
            member_id = UUID(caller.sub) if _is_uuid(caller.sub) else None
        if member_id is None:
            raise ApiError(403, "forbidden", "a member may only see their own data")
        own_or_officer(caller, member_id)
        return member_id

    async def programme_or_404(conn: asyncpg.Connection, programme_id: UUID) -> asyncpg.Record:
        programme = await store.programme_by_id(conn, programme_id)
        if programme is None:
            raise not_found("programme", programme_id)
        return programme

    # -- programmes

    @api.post("/programmes", status_code=201, tags=["programmes"])
    async def open_programme(body: NewProgramme, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "officer")
        spec = body.model_dump()
        spec["kind_caps_cents"] = dict(spec["kind_caps_cents"])
        spec["criteria"] = [c.value for c in body.criteria]
        programme = await in_tx(lambda conn: commands.open_programme(conn, spec, runtime.clock()))
        return programme_view(programme)

    @api.get("/programmes", tags=["programmes"])
    async def programmes(caller: Caller, cursor: str | None = None, limit: Limit = 50
                         ) -> dict[str, Any]:
        after = time_id_cursor(cursor)
        async with runtime.db.acquire() as conn:
            rows = await store.programmes_page(conn, after, limit + 1)
        return page([programme_view(p) for p in rows], rows, limit,
                    lambda p: [p["opened_at"].isoformat(), str(p["id"])])

    @api.get("/programmes/{programme_id}", tags=["programmes"])
    async def programme(programme_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            return programme_view(await programme_or_404(conn, programme_id))

    @api.post("/programmes/{programme_id}/close", tags=["programmes"])
    async def close(programme_id: UUID, caller: Caller) -> dict[str, Any]:
        require_roles(caller, "officer")
        closed = await in_tx(lambda conn: commands.close_programme(conn, programme_id,
                                                                   runtime.clock()))
        return programme_view(closed)

    @api.get("/programmes/{programme_id}/ledger", tags=["ledger"])
    async def ledger(programme_id: UUID, caller: Caller, cursor: str | None = None,
                     limit: Limit = 100) -> dict[str, Any]:
        """Every transaction of the programme in the order recorded, with its postings
        (+ into an account, - out of it; each transaction sums to zero). The page is in
        `items`, and in `entries` as API.md names it."""
        require_roles(caller, "officer")
        after = decode_cursor(cursor)
        if after is not None and not (type(after) is int and 0 <= after < 2**63):
            raise invalid("cursor", "not a cursor this API gave")
        async with runtime.db.acquire() as conn:
            programme = await programme_or_404(conn, programme_id)
            rows = await store.ledger_page(conn, programme_id, after, limit + 1)
        result = page([ledger_view(t) for t in rows], rows, limit, lambda t: t["seq"])
        # API.md: "GET /v1/programmes/{id}/ledger — entries". The page's `items` under the
        # spec's name too.
        result["entries"] = result["items"]
        result["balances"] = {k: programme[k] for k in ("budget_cents", "available_cents",
                                                        "committed_cents", "disbursed_cents")}
        return result

    # -- applications

    @api.post("/programmes/{programme_id}/applications", status_code=201,
              tags=["applications"])
    async def apply(programme_id: UUID, body: NewApplication, caller: Caller) -> dict[str, Any]:
        require_self_or_roles(caller, body.member_id, "officer", "staff")
        application = await in_tx(lambda conn: commands.apply(
            conn, programme_id, body.member_id, body.declarations.stored(), runtime.clock()))
        return commands.application_view(application)

    @api.get("/programmes/{programme_id}/applications", tags=["applications"])
    async def programme_applications(programme_id: UUID, caller: Caller,
                                     cursor: str | None = None, limit: Limit = 100
                                     ) -> dict[str, Any]:
        require_roles(caller, "officer")
        after = time_id_cursor(cursor)
        async with runtime.db.acquire() as conn:
            await programme_or_404(conn, programme_id)
            rows = await store.applications_page(conn, programme_id=programme_id,
                                                 member_id=None, after=after, limit=limit + 1)
        return page([commands.application_view(a) for a in rows], rows, limit,
                    lambda a: [a["submitted_at"].isoformat(), str(a["id"])])

    @api.get("/applications", tags=["applications"])
    async def applications(caller: Caller, member_id: UUID | None = None,
                           cursor: str | None = None, limit: Limit = 100) -> dict[str, Any]:
        member_id = member_filter(caller, member_id)
        after = time_id_cursor(cursor)
        async with runtime.db.acquire() as conn:
            rows = await store.applications_page(conn, programme_id=None, member_id=member_id,
                                                 after=after, limit=limit + 1)
        return page([commands.application_view(a) for a in rows], rows, limit,
                    lambda a: [a["submitted_at"].isoformat(), str(a["id"])])

    @api.get("/applications/{application_id}", tags=["applications"])
    async def application(application_id: UUID, caller: Caller) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            found = await store.application_by_id(conn, application_id)
        if found is None:
            raise not_found("application", application_id)
        own_or_officer(caller, found["member_id"])
        return commands.application_view(found)

    # -- vouchers

    @api.get("/vouchers", tags=["vouchers"])
    async def vouchers(caller: Caller, member_id: UUID | None = None,
                       programme_id: UUID | None = None, cursor: str | None = None,
                       limit: Limit = 100) -> dict[str, Any]:
        member_id = member_filter(caller, member_id)
        after = time_id_cursor(cursor)
        async with runtime.db.acquire() as conn:
            rows = await store.vouchers_page(conn, member_id=member_id,
                                             programme_id=programme_id, after=after,
                                             limit=limit + 1)
        return page([commands.voucher_view(v) for v in rows], rows, limit,
                    lambda v: [v["granted_at"].isoformat(), str(v["id"])])

    async def voucher_owned(voucher_id: UUID, caller: Principal) -> asyncpg.Record:
        async with runtime.db.acquire() as conn:
            found = await store.voucher_by_id(conn, voucher_id)
        if found is None:
            raise not_found("voucher", voucher_id)
        own_or_officer(caller, found["member_id"])
        return found

    @api.get("/vouchers/{voucher_id}", tags=["vouchers"])
    async def voucher(voucher_id: UUID, caller: Caller) -> dict[str, Any]:
        return commands.voucher_view(await voucher_owned(voucher_id, caller))

    @api.post("/vouchers/{voucher_id}/revoke", tags=["vouchers"])
    async def revoke(voucher_id: UUID, caller: Caller, body: Revocation | None = None
                     ) -> dict[str, Any]:
        """What is left returns to the programme's available budget; what was paid stays.
        The body `{"reason": "<code>"}` is optional."""
        require_roles(caller, "officer")
        reason = body.reason if body is not None else None
        revoked = await in_tx(lambda conn: commands.revoke(conn, voucher_id, reason,
                                                           runtime.clock()))
        return commands.voucher_view(revoked)

    @api.post("/vouchers/{voucher_id}/partita-iva", tags=["vouchers"])
    async def declare_partita_iva(voucher_id: UUID, body: PartitaIva, caller: Caller
                                  ) -> dict[str, Any]:
        """Meet the condition of a conditional grant: the voucher starts paying."""
        await voucher_owned(voucher_id, caller)
        declared = await in_tx(lambda conn: commands.declare_partita_iva(
            conn, voucher_id, body.opened_on, runtime.clock()))
        return commands.voucher_view(declared)

    # -- statements

    def checked_period(period: str) -> str:
        if not _PERIOD.match(period):
            raise invalid("period", "a statement period is YYYY-MM")
        return period

    @api.get("/programmes/{programme_id}/statements/{period}", tags=["statements"])
    async def statement(programme_id: UUID, period: str, caller: Caller,
                        accept: Annotated[str | None, Header()] = None,
                        space_id: UUID | None = None) -> Response:
        """JSON (canonical: sorted keys, lines by recorded time), or CSV with
        `Accept: text/csv`. Once issued, the frozen bytes; before, a draft from the ledger.
        With `space_id`: the same month's lines at one accredited space (a view rendered from
        the same ledger lines; the programme's statement is the document that is issued)."""
        require_roles(caller, "officer", "staff")
        checked_period(period)
        async with runtime.db.acquire() as conn:
            await programme_or_404(conn, programme_id)
            issued = await store.issued_statement(conn, programme_id, period)
            if space_id is not None:
                document = await commands.render_statement(conn, programme_id, period,
                                                           space_id=space_id)
                json_bytes, csv_bytes = document.json_bytes, document.csv_bytes
                sha256 = document.sha256
                status = "issued" if issued is not None else "draft"
            elif issued is not None:
                json_bytes, csv_bytes = bytes(issued["json_bytes"]), bytes(issued["csv_bytes"])
                sha256, status = issued["sha256"], "issued"
            else:
                document = await commands.render_statement(conn, programme_id, period)
                json_bytes, csv_bytes = document.json_bytes, document.csv_bytes
                sha256, status = document.sha256, "draft"
        headers = {"X-Statement-Status": status, "X-Statement-SHA256": sha256,
                   "ETag": f'"{sha256}"'}
        if accept and "text/csv" in accept:
            headers["Content-Disposition"] = (f'attachment; filename="statement-{programme_id}-'
                                              f'{period}.csv"')
            return Response(csv_bytes, media_type="text/csv; charset=utf-8", headers=headers)
        return Response(json_bytes, media_type="application/json", headers=headers)

    @api.post("/programmes/{programme_id}/statements/{period}/issue", status_code=201,
              tags=["statements"])
    async def issue_statement(programme_id: UUID, period: str, caller: Caller
                              ) -> dict[str, Any]:
        require_roles(caller, "officer")
        checked_period(period)
        issued = await in_tx(lambda conn: commands.issue_statement(conn, programme_id, period,
                                                                   runtime.clock()))
        return statement_issue_view(issued)

    # -- transparency and de minimis

    async def beneficiaries(programme_id: UUID | None, year: int) -> dict[str, Any]:
        async with runtime.db.acquire() as conn:
            if programme_id is not None:
                await programme_or_404(conn, programme_id)
            rows = await store.grants_by_beneficiary(conn, programme_id, year)
        items = [{"member_id": str(r["member_id"]), "granted_cents": r["granted_cents"],
                  "vouchers": r["vouchers"],
                  "programme_ids": sorted(str(p) for p in r["programme_ids"]),
                  "publication_required": domain.needs_publication(r["granted_cents"])}
                 for r in rows]
        return {"year": year, "threshold_cents": domain.TRANSPARENCY_THRESHOLD_CENTS,
                "items": items, "next_cursor": None}

    Year = Annotated[int, Query(ge=2000, le=2100)]

    @api.get("/programmes/{programme_id}/beneficiaries", tags=["transparency"])
    async def programme_beneficiaries(programme_id: UUID, year: Year, caller: Caller,
                                      published_only: bool = False) -> dict[str, Any]:
        """Grants per beneficiary in a calendar year; above EUR 1,000 they must be published
        (D.Lgs. 33/2013) before payment."""
        require_roles(caller, "officer")
        result = await beneficiaries(programme_id, year)
        if published_only:
            result["items"] = [i for i in result["items"] if i["publication_required"]]
        return result

    @api.get("/transparency", tags=["transparency"])
    async def transparency(year: Year, caller: Caller) -> dict[str, Any]:
        """The export to publish: beneficiaries whose grants exceed EUR 1,000 in the year."""
        require_roles(caller, "officer")
        result = await beneficiaries(None, year)
        result["items"] = [i for i in result["items"] if i["publication_required"]]
        return result

    @api.get("/de-minimis", tags=["transparency"])
    async def de_minimis(caller: Caller, on: date, tax_code: Annotated[
            str, Query(pattern=r"^[A-Za-z0-9]{11}$|^[A-Za-z0-9]{16}$")] | None = None,
                         member_id: UUID | None = None) -> dict[str, Any]:
        """An undertaking's grants in the three years up to `on` and what it may still get."""
        require_roles(caller, "officer")
        if (tax_code is None) == (member_id is None):
            raise invalid("tax_code", "give tax_code or member_id")
        _in_range_or_422(on, "on")
        key = commands.undertaking_key(member_id or UUID(int=0), tax_code)
        async with runtime.db.acquire() as conn:
            grants = await store.de_minimis_grants_of(conn, key)
        return {"on": on.isoformat(), "ceiling_cents": domain.DE_MINIMIS_CEILING_CENTS,
                "headroom_cents": domain.de_minimis_headroom(grants, on),
                "grants": [{"granted_on": g.isoformat(), "amount_cents": a}
                           for g, a in sorted(grants)]}

    # -- accredited spaces

    @api.post("/accredited-spaces", status_code=201, tags=["accredited spaces"])
    async def accredit(body: NewAccreditation, caller: Caller) -> dict[str, Any]:
        """A space is accredited from a date. A space booking has not announced yet is
        accepted with a warning (the demo accredits its space before booking publishes it)."""
        require_roles(caller, "officer")

        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            known, desks = await store.desks_of(conn, body.space_id)
            if body.min_desks is not None and not known:
                # A criterion can only be checked against what booking has announced.
                raise invalid("space_id", "booking has not announced this space yet, so its "
                              "desks cannot be counted; try again once it has",
                              code="space_unknown")
            if body.min_desks is not None and desks < body.min_desks:
                raise invalid("space_id", f"the space has {desks} desks, fewer than "
                              f"{body.min_desks}", code="too_few_desks")
            row = await commands.accredit(conn, body.space_id, body.from_, body.reason,
                                          runtime.clock())
            return accreditation_view(row, known=known, desks=desks)

        return await in_tx(work)  # type: ignore[no-any-return]

    @api.get("/accredited-spaces", tags=["accredited spaces"])
    async def accredited_spaces(caller: Caller, cursor: str | None = None, limit: Limit = 100
                                ) -> dict[str, Any]:
        require_roles(caller, "officer", "staff")
        after = time_id_cursor(cursor)
        async with runtime.db.acquire() as conn:
            rows = await store.accreditations_page(conn, after, limit + 1)
        return page([accreditation_view(a, known=a["known"], desks=a["desks"]) for a in rows],
                    rows, limit, lambda a: [a["created_at"].isoformat(), str(a["id"])])

    @api.delete("/accredited-spaces/{space_id}", tags=["accredited spaces"])
    async def end_accreditation(space_id: UUID, caller: Caller) -> dict[str, Any]:
        """Ends the accreditation: costs from today on no longer count. The record stays."""
        require_roles(caller, "officer")

        async def work(conn: asyncpg.Connection) -> dict[str, Any]:
            row = await commands.end_accreditation(conn, space_id, runtime.clock())
            known, desks = await store.desks_of(conn, space_id)
            return accreditation_view(row, known=known, desks=desks)

        return await in_tx(work)  # type: ignore[no-any-return]

    return api


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def _in_range_or_422(day: date, field: str) -> None:
    try:
        _in_range(day, field)
    except ValueError as exc:
        raise invalid(field, str(exc)) from exc
