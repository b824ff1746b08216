"""Applications: evaluated on their date; a first-come programme decides at once, a ranked
one when it closes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from cowork.vouchers.commands.grants import grant, reject
from cowork.vouchers.commands.ledger import Refused, locked_balances
from cowork.vouchers.commands.programmes import close_to_applications
from cowork.vouchers.commands.undertakings import declared_undertaking
from cowork.vouchers.domain.dates import rome_date
from cowork.vouchers.domain.eligibility import (
    EligibilityOutcome,
    Reason,
    check_eligibility,
    declarations_of,
    eligibility_rules,
)
from cowork.vouchers.domain.tax_codes import birth_date_agrees
from cowork.vouchers.store import applications as applications_store
from cowork.vouchers.store import programmes as programmes_store
from cowork.vouchers.store import replicas as replicas_store


def application_view(a: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(a["id"]), "programme_id": str(a["programme_id"]),
            "member_id": str(a["member_id"]), "status": a["status"],
            "voucher_id": str(a["voucher_id"]) if a["voucher_id"] else None,
            "reasons": list(a["reasons"]), "submitted_at": a["submitted_at"].isoformat(),
            "condition_deadline": a["condition_deadline"].isoformat()
            if a["condition_deadline"] else None,
            "rank_position": a["rank_position"], "submitted_by": a["submitted_by"]}


async def apply(conn: asyncpg.Connection, programme_id: UUID, member_id: UUID,
                declarations: dict[str, Any], now: datetime, *, submitted_by: str
                ) -> asyncpg.Record:
    """Evaluate the application on its date; first_come grants (or refuses) at once, ranked
    keeps it pending until the programme closes. Rejections name every rule that failed.
    `submitted_by` is who sent it: the member, or the front desk on their behalf."""
    balances = await locked_balances(conn, programme_id)
    programme = await programmes_store.programme_by_id(conn, programme_id)
    assert programme is not None
    today = rome_date(now)
    _require_open_for_applications(programme, today)
    declarations, outcome = await _evaluate(conn, programme, member_id, declarations, today)
    application_id = uuid4()
    tax_code = declarations.pop("tax_code", None)
    outcome = _consistent(outcome, declarations_of(declarations).birth_date, tax_code)
    declared_key = await declared_undertaking(conn, member_id, tax_code)
    try:
        async with conn.transaction():  # a savepoint: the duplicate leaves nothing behind
            await applications_store.insert_application(
                conn, application_id=application_id, programme_id=programme_id,
                member_id=member_id, submitted_at=now, declarations=declarations,
                undertaking_key=declared_key,
                condition_deadline=outcome.condition_deadline, submitted_by=submitted_by)
    except asyncpg.UniqueViolationError as exc:
        raise Refused("already_applied", "this member already applied to this programme "
                      "(one voucher per beneficiary per programme)", field="member_id") from exc
    application = await applications_store.application_by_id(conn, application_id)
    assert application is not None
    if not outcome.eligible:
        await reject(conn, application, outcome.reasons, now)
    elif programme["selection_mode"] == "first_come":
        decision = await grant(conn, programme, balances, application, now)
        if decision.amount_cents == 0:
            await reject(conn, application, decision.reasons, now)
        elif balances.available_cents == 0:
            # first come, first served until funds run out
            await close_to_applications(conn, programme, now)
    decided = await applications_store.application_by_id(conn, application_id)
    assert decided is not None
    return decided


def _consistent(outcome: EligibilityOutcome, birth_date: date | None, tax_code: str | None
                ) -> EligibilityOutcome:
    """A declared birth date that the declared codice fiscale contradicts is a rejection,
    whatever else the declarations satisfy."""
    if birth_date is None or not tax_code or birth_date_agrees(birth_date, tax_code):
        return outcome
    return EligibilityOutcome(False, (*outcome.reasons, Reason.DECLARATION_INCONSISTENT.value))


def _require_open_for_applications(programme: asyncpg.Record, today: date) -> None:
    if programme["status"] == "closed":
        raise Refused("programme_closed", "the programme is closed to applications")
    if programme["application_deadline"] and today > programme["application_deadline"]:
        raise Refused("applications_closed", "the application deadline has passed")
    if today > programme["valid_until"]:
        raise Refused("programme_ended", "the programme's validity has ended")


async def _evaluate(conn: asyncpg.Connection, programme: asyncpg.Record, member_id: UUID,
                    declarations: dict[str, Any], today: date
                    ) -> tuple[dict[str, Any], EligibilityOutcome]:
    """The declarations completed from the member replica (a residence not declared), and
    the programme's eligibility checked against them."""
    member = await replicas_store.member_by_id(conn, member_id)
    # Only members membership told us of: an id the service never heard of (a typo, or the
    # front desk applying for random ids) would commit real money to nobody.
    if member is None:
        raise Refused("member_unknown", "no member with this id is known to the vouchers "
                      "service (yet: membership's member.registered may still be on its way)",
                      field="member_id")
    if member["erased_at"] is not None:
        raise Refused("member_erased", "this member was erased", field="member_id")
    declared = declarations_of(declarations)
    if declared.residence_istat is None and member["residence_istat"]:
        declarations = {**declarations, "residence_istat": member["residence_istat"]}
        declared = declarations_of(declarations)
    # The replica's member kind wins; a member whose kind it has not learnt may declare it,
    # like every other self-certified fact the officer checks later.
    member_kind = member["kind"] or declarations.get("member_kind")
    outcome = check_eligibility(eligibility_rules(programme["eligibility"]), member_kind,
                                declared, today)
    return declarations, outcome
