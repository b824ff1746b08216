"""Subsidy rules: pure functions over plain values, no I/O.

This package is the single place where public money is computed. Everything is integer euro
cents; the one rounding rule is `ledger.share_of` (round down, in favour of the public purse),
used everywhere a percentage is taken. By topic: `ledger` (accounts, movements, balances),
`eligibility`, `grants` (amount, de minimis, validity, transparency), `ranking`,
`redemptions` (subsidies, reversals, a batch paid in memory), `thresholds`, `statements`,
`dates`.

Signatures are a contract shared by the commands, the store, the API and the unit and property
tests: change one only together with its callers. The names below are the ones the API reads
from `domain` itself; everything else is imported from its module.
"""

from cowork.vouchers.domain.grants import (
    DE_MINIMIS_CEILING_CENTS,
    TRANSPARENCY_THRESHOLD_CENTS,
    de_minimis_headroom,
    needs_publication,
)
from cowork.vouchers.domain.ledger import LedgerViolation
from cowork.vouchers.domain.ranking import Criterion

__all__ = ["DE_MINIMIS_CEILING_CENTS", "TRANSPARENCY_THRESHOLD_CENTS", "Criterion",
           "LedgerViolation", "de_minimis_headroom", "needs_publication"]
