"""Rows as the API shows them (the shapes `schemas` documents). Applications and vouchers are
shown by `commands.application_view` / `commands.voucher_view`, which events reuse."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from cowork.vouchers import domain


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _str(value: object) -> str | None:
    return str(value) if value is not None else None


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


def balances_view(p: asyncpg.Record) -> dict[str, int]:
    return {k: p[k] for k in ("budget_cents", "available_cents", "committed_cents",
                              "disbursed_cents")}


def ledger_view(t: asyncpg.Record) -> dict[str, Any]:
    return {"id": str(t["id"]), "seq": t["seq"], "movement": t["movement"],
            "amount_cents": t["amount_cents"], "recorded_at": _iso(t["recorded_at"]),
            "postings": t["postings"], "voucher_id": _str(t["voucher_id"]),
            "member_id": _str(t["member_id"]), "reason": t["reason"],
            "source_type": t["source_type"], "source_id": _str(t["source_id"]),
            "source_event_id": _str(t["source_event_id"]), "space_id": _str(t["space_id"]),
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


def beneficiary_view(r: asyncpg.Record) -> dict[str, Any]:
    return {"member_id": str(r["member_id"]), "granted_cents": r["granted_cents"],
            "vouchers": r["vouchers"],
            "programme_ids": sorted(str(p) for p in r["programme_ids"]),
            "publication_required": domain.needs_publication(r["granted_cents"])}
