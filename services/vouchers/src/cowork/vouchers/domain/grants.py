"""How much a voucher is worth and for how long: the cap reduced to what the budget and the
undertaking's de minimis headroom allow, the voucher's validity, and the transparency rule."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from cowork.vouchers.domain.dates import add_months, last_day_of_months
from cowork.vouchers.domain.eligibility import Reason

DE_MINIMIS_CEILING_CENTS = 30_000_000  # Regulation (EU) 2023/2831: EUR 300,000 per undertaking
DE_MINIMIS_YEARS = 3                   # over any three years, counted from the grant date
TRANSPARENCY_THRESHOLD_CENTS = 100_000  # D.Lgs. 33/2013 art. 26-27: grants above EUR 1,000/year


def de_minimis_headroom(previous_grants: Sequence[tuple[date, int]], on: date,
                        ceiling_cents: int = DE_MINIMIS_CEILING_CENTS) -> int:
    """How much more an undertaking may receive on `on`: the ceiling less the grants dated in
    the three years up to and including `on` (rolling window). Never negative."""
    window_start = de_minimis_window_start(on)
    received = sum(amount for granted_on, amount in previous_grants
                   if window_start <= granted_on <= on)
    return max(0, ceiling_cents - received)


def de_minimis_window_start(on: date) -> date:
    """First day of the three years ending on `on`: on 2027-03-10 the window is 2024-03-11 ..
    2027-03-10, so a grant of 2024-03-10 no longer counts (three years = 36 months)."""
    return add_months(on, -12 * DE_MINIMIS_YEARS) + timedelta(days=1)


def undertaking_key(member_id: UUID, tax_code: str | None) -> str:
    """The de minimis register's key for the single undertaking: a SHA-256 of the declared tax
    code (so one undertaking is one key across members and programmes, and the register holds
    no tax code), or the member when none was declared."""
    if tax_code:
        return "tax:" + hashlib.sha256(tax_code.strip().upper().encode()).hexdigest()
    return f"member:{member_id}"


@dataclass(frozen=True)
class GrantDecision:
    amount_cents: int          # 0 means refused
    reasons: tuple[str, ...]   # why reduced or refused, e.g. ("de_minimis_reduced",), ("budget_exhausted",)


def grant_amount(cap_per_beneficiary_cents: int, available_cents: int,
                 de_minimis_headroom_cents: int) -> GrantDecision:
    """The voucher amount: the cap, reduced to what the budget and de minimis allow."""
    if cap_per_beneficiary_cents <= 0:
        return GrantDecision(0, (Reason.CAP_ZERO.value,))
    amount = max(0, min(cap_per_beneficiary_cents, available_cents, de_minimis_headroom_cents))
    reasons: list[Reason] = []
    if amount == 0:
        if available_cents <= 0:
            reasons.append(Reason.BUDGET_EXHAUSTED)
        if de_minimis_headroom_cents <= 0:
            reasons.append(Reason.DE_MINIMIS_EXCEEDED)
    else:
        if available_cents < cap_per_beneficiary_cents:
            reasons.append(Reason.BUDGET_REDUCED)
        if de_minimis_headroom_cents < cap_per_beneficiary_cents:
            reasons.append(Reason.DE_MINIMIS_REDUCED)
    return GrantDecision(amount, tuple(r.value for r in reasons))


def voucher_valid_until(granted_on: date, max_months: int | None, programme_valid_until: date
                        ) -> date:
    """A voucher's last valid day: `max_months` from the grant (12 months from 2027-03-10 is
    up to 2028-03-09), never beyond the programme's own last day."""
    if max_months is None:
        return programme_valid_until
    return min(last_day_of_months(granted_on, max_months), programme_valid_until)


def voucher_validity(today: date, programme_valid_from: date, programme_valid_until: date,
                     max_duration_months: int | None) -> tuple[date, date]:
    """A voucher granted `today` is valid from the grant (or the programme's start), for at
    most max_duration_months (none, or 0: no limit), never past the programme's end."""
    valid_from = max(today, programme_valid_from)
    valid_until = programme_valid_until
    if max_duration_months:
        valid_until = min(valid_until, last_day_of_months(valid_from, max_duration_months))
    return valid_from, valid_until


def needs_publication(granted_in_year_cents: int) -> bool:
    """D.Lgs. 33/2013: grants above EUR 1,000 to one beneficiary in a calendar year are
    published before payment."""
    return granted_in_year_cents > TRANSPARENCY_THRESHOLD_CENTS
