"""The programme's double-entry ledger: accounts, movements, their postings and the balances
they leave. Everything is integer euro cents; the one rounding rule is `share_of` (round down,
in favour of the public purse), used everywhere a percentage is taken."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

MAX_CENTS = 2**63 - 1                    # what a PostgreSQL bigint (every *_cents column) holds


class Account(StrEnum):
    """A programme's ledger accounts. `funding` is the municipality's side of the opening
    entry (it holds -budget), so that every transaction sums to zero."""

    FUNDING = "funding"
    AVAILABLE = "available"
    COMMITTED = "committed"
    DISBURSED = "disbursed"


class Movement(StrEnum):
    """Why money moves; each has exactly one pair of accounts (see `postings`)."""

    OPEN = "open"          # funding -> available (the budget)
    GRANT = "grant"        # available -> committed (a voucher granted)
    REDEEM = "redeem"      # committed -> disbursed (a redemption)
    REVERSE = "reverse"    # disbursed -> committed (a redemption reversed)
    RELEASE = "release"    # committed -> available (expiry, revocation, reduction)


@dataclass(frozen=True)
class Posting:
    account: Account
    amount_cents: int  # signed: + debit into the account, - credit out of it


def share_of(amount_cents: int, pct: int) -> int:
    """pct percent of amount, rounded down to the cent. The project's only rounding rule."""
    if amount_cents < 0:
        raise ValueError(f"share_of a negative amount ({amount_cents})")
    if not 0 <= pct <= 100:
        raise ValueError(f"a percentage is between 0 and 100, not {pct}")
    # Integer arithmetic only: floor(amount * pct / 100) exactly, whatever the size.
    return amount_cents * pct // 100


# Each movement takes money out of the first account (credit) into the second (debit).
MOVEMENT_ACCOUNTS: Mapping[Movement, tuple[Account, Account]] = {
    Movement.OPEN: (Account.FUNDING, Account.AVAILABLE),
    Movement.GRANT: (Account.AVAILABLE, Account.COMMITTED),
    Movement.REDEEM: (Account.COMMITTED, Account.DISBURSED),
    Movement.REVERSE: (Account.DISBURSED, Account.COMMITTED),
    Movement.RELEASE: (Account.COMMITTED, Account.AVAILABLE),
}


def postings(movement: Movement, amount_cents: int) -> tuple[Posting, Posting]:
    """The two postings of a movement of `amount_cents` (> 0); they sum to zero."""
    require_positive_cents(amount_cents)
    source, destination = MOVEMENT_ACCOUNTS[Movement(movement)]
    return Posting(destination, amount_cents), Posting(source, -amount_cents)


def require_positive_cents(amount_cents: int) -> None:
    """Raise LedgerViolation unless `amount_cents` is whole cents, > 0, within a bigint."""
    # bool is an int in Python; True must not move one cent of public money.
    if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
        raise LedgerViolation(f"an amount is whole cents, not {amount_cents!r}")
    if not 0 < amount_cents <= MAX_CENTS:
        raise LedgerViolation(f"a movement moves a positive amount, not {amount_cents}")


@dataclass
class ProgrammeBalances:
    """Balances of one programme's accounts; `apply` refuses what would break an invariant
    (negative balance, unbalanced transaction) by raising LedgerViolation."""

    budget_cents: int
    available_cents: int = 0
    committed_cents: int = 0
    disbursed_cents: int = 0

    def apply(self, movement: Movement, amount_cents: int) -> None:
        """Move `amount_cents` as `movement` says, or raise LedgerViolation and change nothing.
        OPEN is allowed once, on an unopened programme, for exactly the budget."""
        require_positive_cents(amount_cents)
        movement = Movement(movement)
        self._require_consistent()
        if movement is Movement.OPEN:
            if self.is_open:
                raise LedgerViolation("the programme's budget is already open")
            if amount_cents != self.budget_cents:
                raise LedgerViolation(
                    f"the opening entry is the budget ({self.budget_cents}), not {amount_cents}")
        balances = self.balances()
        for posting in postings(movement, amount_cents):
            balances[posting.account] += posting.amount_cents
        negative = [a.value for a in (Account.AVAILABLE, Account.COMMITTED, Account.DISBURSED)
                    if balances[a] < 0]
        if negative:
            raise LedgerViolation(
                f"{movement.value} of {amount_cents} would make {', '.join(negative)} negative")
        # Only now, all checks passed: a refused movement leaves the balances untouched.
        self.available_cents = balances[Account.AVAILABLE]
        self.committed_cents = balances[Account.COMMITTED]
        self.disbursed_cents = balances[Account.DISBURSED]

    @property
    def is_open(self) -> bool:
        """Whether the opening entry was made (the three stage accounts hold the budget)."""
        return self.available_cents + self.committed_cents + self.disbursed_cents != 0

    @property
    def used_cents(self) -> int:
        """What the thresholds measure: committed to vouchers plus disbursed."""
        return self.committed_cents + self.disbursed_cents

    def balances(self) -> dict[Account, int]:
        """Every account's balance; `funding` holds minus what was opened, so they sum to 0."""
        staged = self.available_cents + self.committed_cents + self.disbursed_cents
        return {Account.FUNDING: -staged, Account.AVAILABLE: self.available_cents,
                Account.COMMITTED: self.committed_cents, Account.DISBURSED: self.disbursed_cents}

    def _require_consistent(self) -> None:
        if self.budget_cents <= 0:
            raise LedgerViolation(f"a programme's budget is positive, not {self.budget_cents}")
        if min(self.available_cents, self.committed_cents, self.disbursed_cents) < 0:
            raise LedgerViolation("a balance is negative")
        if self.is_open and self.available_cents + self.committed_cents + self.disbursed_cents \
                != self.budget_cents:
            raise LedgerViolation("available + committed + disbursed differs from the budget")


class LedgerViolation(ValueError):
    """A movement that would make a balance negative or break available+committed+disbursed
    = budget."""
