"""The marks whose crossing is announced, each exactly once (the store records what was
emitted): a programme's budget used, a voucher's amount used, a voucher about to expire."""

from __future__ import annotations

from datetime import date, timedelta

BUDGET_THRESHOLDS_PCT = (80, 100)        # programme budget used (committed + disbursed)
VOUCHER_THRESHOLD_PCT = 80               # a voucher's amount used
VOUCHER_EXPIRY_NOTICE_DAYS = 14          # "voucher expiring" is announced this many days before


def budget_thresholds_crossed(budget_cents: int, used_before_cents: int,
                              used_after_cents: int) -> list[int]:
    """Which of 80 and 100 (% of the budget used = committed + disbursed) a change crosses
    upwards. Emitted exactly once each: the store records what was emitted."""
    if budget_cents <= 0:
        return []
    # Compare used*100 with budget*pct: exact, no percentage is ever rounded.
    return [pct for pct in BUDGET_THRESHOLDS_PCT
            if used_before_cents * 100 < budget_cents * pct <= used_after_cents * 100]


def voucher_threshold_crossed(amount_cents: int, used_before_cents: int,
                              used_after_cents: int) -> bool:
    """True when a redemption takes a voucher's use to 80% or more for the first time."""
    if amount_cents <= 0:
        return False
    line = amount_cents * VOUCHER_THRESHOLD_PCT
    return used_before_cents * 100 < line <= used_after_cents * 100


def voucher_expiry_notice_due(valid_until: date, today: date,
                              days: int = VOUCHER_EXPIRY_NOTICE_DAYS) -> bool:
    """Whether "expiring in 14 days" is due on `today`: from 14 days before the last valid day
    up to that day itself (the store emits it once)."""
    return valid_until - timedelta(days=days) <= today <= valid_until
