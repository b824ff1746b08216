"""The auditor's recomputation (docs/vouchers-ledger.md, "Verify"): a programme's money
recomputed from its append-only ledger alone, compared with everything the service keeps
beside it (the balances row, the vouchers, the redemptions) and with the programme's terms.
Pure: rows in (any mapping of column -> value), mismatches out, each naming what is wrong."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from cowork.vouchers.domain.dates import last_day_of_months, rome_date
from cowork.vouchers.domain.grants import DE_MINIMIS_CEILING_CENTS, de_minimis_window_start
from cowork.vouchers.domain.ledger import MOVEMENT_ACCOUNTS, Account, Movement, share_of
from cowork.vouchers.domain.statements import month_of, next_month

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Mismatch:
    check: str     # what was compared: balances, voucher_remaining, coverage, statement_sha256...
    subject: str   # what it is about: "programme <id>", "voucher <id>", "entry <id>"...
    detail: str    # the two values that differ, or the rule broken

    def __str__(self) -> str:
        return f"{self.check}: {self.subject}: {self.detail}"


@dataclass
class VoucherMoney:
    """One voucher's money as its ledger entries add it up."""

    granted: int = 0
    redeemed: int = 0
    reversed: int = 0
    released: int = 0

    @property
    def paid(self) -> int:
        return self.redeemed - self.reversed

    @property
    def remaining(self) -> int:
        return self.granted - self.paid - self.released


_VOUCHER_FIELD = {Movement.GRANT: "granted", Movement.REDEEM: "redeemed",
                  Movement.REVERSE: "reversed", Movement.RELEASE: "released"}


def ledger_mismatches(programme: Row, entries: Sequence[Row]) -> list[Mismatch]:
    """Each entry's postings are its movement's two accounts (+amount in, -amount out); the
    postings summed per account are the balances row; the budget was opened once."""
    subject = f"programme {programme['id']}"
    found: list[Mismatch] = []
    sums: dict[str, int] = defaultdict(int)
    for entry in entries:
        postings: Mapping[str, int] = entry["postings"] or {}
        source, destination = MOVEMENT_ACCOUNTS[Movement(entry["movement"])]
        expected = {destination.value: entry["amount_cents"], source.value: -entry["amount_cents"]}
        if dict(postings) != expected:
            found.append(Mismatch("transaction", f"entry {entry['id']}",
                                  f"{entry['movement']} of {entry['amount_cents']} has postings "
                                  f"{dict(postings)}, expected {expected}"))
        for account, cents in postings.items():
            sums[account] += cents
    opened = [e["amount_cents"] for e in entries if e["movement"] == Movement.OPEN.value]
    if opened != [programme["budget_cents"]]:
        found.append(Mismatch("budget", subject, f"opening entries {opened}, budget "
                                                 f"{programme['budget_cents']}"))
    for account in (Account.AVAILABLE, Account.COMMITTED, Account.DISBURSED):
        kept = programme[f"{account.value}_cents"]
        if sums[account.value] != kept:
            found.append(Mismatch("balances", subject, f"{account.value}: ledger "
                                                       f"{sums[account.value]}, balances row {kept}"))
    if sums[Account.FUNDING.value] != -programme["budget_cents"]:
        found.append(Mismatch("balances", subject, f"funding: ledger {sums['funding']}, "
                                                   f"budget {programme['budget_cents']}"))
    return found


def voucher_money(entries: Iterable[Row]) -> dict[UUID, VoucherMoney]:
    money: dict[UUID, VoucherMoney] = defaultdict(VoucherMoney)
    for entry in entries:
        field = _VOUCHER_FIELD.get(Movement(entry["movement"]))
        if field is not None and entry["voucher_id"] is not None:
            account = money[entry["voucher_id"]]
            setattr(account, field, getattr(account, field) + entry["amount_cents"])
    return money


def voucher_mismatches(programme: Row, vouchers: Sequence[Row],
                       money: Mapping[UUID, VoucherMoney]) -> list[Mismatch]:
    """Each voucher's amount, remaining and released balances are what its entries add up to;
    what it paid is within its amount and the cap per beneficiary; its validity is the
    programme's rule."""
    found: list[Mismatch] = []
    for voucher in vouchers:
        subject = f"voucher {voucher['id']}"
        m = money.get(voucher["id"], VoucherMoney())
        for check, kept, recomputed in (("voucher_amount", voucher["amount_cents"], m.granted),
                                        ("voucher_remaining", voucher["remaining_cents"],
                                         m.remaining),
                                        ("voucher_released", voucher["released_cents"],
                                         m.released)):
            if kept != recomputed:
                found.append(Mismatch(check, subject, f"ledger {recomputed}, voucher {kept}"))
        cap = min(m.granted, programme["cap_per_beneficiary_cents"])
        if m.paid > cap:
            found.append(Mismatch("voucher_cap", subject, f"paid {m.paid} above {cap} (granted "
                                                          f"{m.granted}, cap per beneficiary "
                                                          f"{programme['cap_per_beneficiary_cents']})"))
        found += _validity_mismatches(programme, voucher)
    known = {v["id"] for v in vouchers}
    found += [Mismatch("voucher_missing", f"voucher {voucher_id}", "ledger entries name a "
                                                                   "voucher that does not exist")
              for voucher_id in money if voucher_id not in known]
    return found


def _validity_mismatches(programme: Row, voucher: Row) -> list[Mismatch]:
    valid_from: date = voucher["valid_from"]
    valid_until: date = voucher["valid_until"]
    latest_from = max(rome_date(voucher["granted_at"]), programme["valid_from"])
    last_day = programme["valid_until"]
    if programme["max_duration_months"]:
        last_day = min(last_day, last_day_of_months(valid_from,
                                                    programme["max_duration_months"]))
    if valid_from < latest_from or valid_until > last_day:
        return [Mismatch("voucher_validity", f"voucher {voucher['id']}",
                         f"valid {valid_from}..{valid_until}, the programme allows "
                         f"{latest_from}..{last_day}")]
    return []


def redemption_mismatches(programme: Row, entries: Sequence[Row], redemptions: Sequence[Row],
                          vouchers: Mapping[UUID, Row], accreditations: Sequence[Row]
                          ) -> list[Mismatch]:
    """Each `redeem` entry is one redemption (the same id, voucher, amount and source) of a
    charge the programme covers, dated inside its voucher and, at a space, inside an
    accreditation; the reversals per voucher are what the redemptions say was given back."""
    found: list[Mismatch] = []
    by_id = {r["id"]: r for r in redemptions}
    redeemed = [e for e in entries if e["movement"] == Movement.REDEEM.value]
    for entry in redeemed:
        redemption = by_id.get(entry["id"])
        if redemption is None:
            found.append(Mismatch("redemption_record", f"entry {entry['id']}",
                                  "a redeem entry without its redemption"))
            continue
        found += _entry_against_redemption(programme, entry, redemption)
    entry_ids = {e["id"] for e in redeemed}
    found += [Mismatch("redemption_record", f"redemption {r['id']}",
                       f"{r['subsidy_cents']} paid with no redeem entry in the ledger")
              for r in redemptions if r["id"] not in entry_ids]
    for redemption in redemptions:
        if redemption["subsidy_cents"] > redemption["reversed_cents"]:  # still (partly) paid
            found += _dated_inside(redemption, vouchers.get(redemption["voucher_id"]),
                                   accreditations, programme)
    found += _reversal_mismatches(entries, redemptions)
    found += cap_mismatches(programme, redemptions)
    return found


def _entry_against_redemption(programme: Row, entry: Row, redemption: Row) -> list[Mismatch]:
    subject = f"redemption {redemption['id']}"
    found = []
    pairs = (("voucher_id", "voucher_id"), ("amount_cents", "subsidy_cents"),
             ("source_id", "source_id"), ("source_event_id", "source_event_id"),
             ("price_cents", "charged_cents"))
    for entry_field, redemption_field in pairs:
        if entry[entry_field] != redemption[redemption_field]:
            found.append(Mismatch("redemption_record", subject,
                                  f"{redemption_field}: ledger {entry[entry_field]}, "
                                  f"redemption {redemption[redemption_field]}"))
    price = entry["price_cents"] or 0
    if entry["amount_cents"] > share_of(price, programme["coverage_pct"]):
        found.append(Mismatch("coverage", subject, f"{entry['amount_cents']} paid on a charge of "
                                                   f"{price} at {programme['coverage_pct']}%"))
    if price < programme["min_eligible_cost_cents"]:
        found.append(Mismatch("min_eligible_cost", subject, f"a charge of {price} is below "
                                                            f"{programme['min_eligible_cost_cents']}"))
    return found


def _dated_inside(redemption: Row, voucher: Row | None, accreditations: Sequence[Row],
                  programme: Row) -> list[Mismatch]:
    subject = f"redemption {redemption['id']}"
    used_on: date = redemption["used_on"]
    found = []
    # Inside the validity the voucher was granted with, and not after the day it ended: its
    # end (revocation, an expiry) reverses every subsidy for use after that day (clawback).
    if voucher is not None and not voucher["valid_from"] <= used_on <= voucher["valid_until"]:
        found.append(Mismatch("redemption_date", subject, f"used on {used_on}, voucher valid "
                                                          f"{voucher['valid_from']}.."
                                                          f"{voucher['valid_until']}"))
    elif voucher is not None and voucher["ended_at"] is not None \
            and used_on > rome_date(voucher["ended_at"]):
        found.append(Mismatch("redemption_after_end", subject,
                              f"used on {used_on}, voucher {voucher['status']} on "
                              f"{rome_date(voucher['ended_at'])}, not reversed"))
    space_id = redemption["space_id"]
    if space_id is not None and redemption["source_type"] == "booking":
        if not any(a["space_id"] == space_id and a["from_date"] <= used_on
                   and (a["until_date"] is None or used_on < a["until_date"])
                   for a in accreditations):
            found.append(Mismatch("accreditation", subject, f"used on {used_on} at space "
                                                            f"{space_id}, not accredited that day"))
        listed = programme["accredited_space_ids"]
        if listed is not None and space_id not in listed:
            found.append(Mismatch("accreditation", subject, f"space {space_id} is not among the "
                                                            "programme's spaces"))
    return found


def _reversal_mismatches(entries: Sequence[Row], redemptions: Sequence[Row]) -> list[Mismatch]:
    in_ledger: dict[UUID, int] = defaultdict(int)
    for entry in entries:
        if entry["movement"] == Movement.REVERSE.value:
            in_ledger[entry["voucher_id"]] += entry["amount_cents"]
    recorded: dict[UUID, int] = defaultdict(int)
    for redemption in redemptions:
        recorded[redemption["voucher_id"]] += redemption["reversed_cents"]
    return [Mismatch("reversals", f"voucher {voucher_id}", f"ledger reversed "
                                                          f"{in_ledger[voucher_id]}, redemptions "
                                                          f"{recorded[voucher_id]}")
            for voucher_id in sorted(set(in_ledger) | set(recorded), key=str)
            if in_ledger[voucher_id] != recorded[voucher_id]]


def cap_mismatches(programme: Row, redemptions: Sequence[Row]) -> list[Mismatch]:
    """What each voucher paid (net of reversals) in a calendar year of use, and on a kind of
    resource, within the programme's caps."""
    per_year: dict[tuple[UUID, int], int] = defaultdict(int)
    per_kind: dict[tuple[UUID, str], int] = defaultdict(int)
    for r in redemptions:
        net = r["subsidy_cents"] - r["reversed_cents"]
        per_year[(r["voucher_id"], r["used_on"].year)] += net
        if r["resource_kind"] is not None:
            per_kind[(r["voucher_id"], r["resource_kind"])] += net
    found = []
    year_cap = programme["cap_per_year_cents"]
    if year_cap is not None:
        found += [Mismatch("year_cap", f"voucher {voucher_id}", f"paid {paid} for {year}, "
                                                                f"cap {year_cap}")
                  for (voucher_id, year), paid in sorted(per_year.items(), key=str)
                  if paid > year_cap]
    kind_caps: Mapping[str, int] = programme["kind_caps_cents"] or {}
    found += [Mismatch("kind_cap", f"voucher {voucher_id}", f"paid {paid} on {kind}, cap "
                                                            f"{kind_caps[kind]}")
              for (voucher_id, kind), paid in sorted(per_kind.items(), key=str)
              if kind in kind_caps and paid > kind_caps[kind]]
    return found


def issued_by_evidence(entries: Iterable[Row]) -> dict[str, UUID]:
    """The statements the ledger shows were issued: an entry recorded in month m but assigned
    to a later month p was moved past every month from m to p, each already issued then.
    Period -> the first entry that shows it."""
    shown: dict[str, UUID] = {}
    for entry in entries:
        period = entry["statement_period"]
        if period is None:
            continue
        month = month_of(entry["recorded_at"])
        while month < period:
            shown.setdefault(month, entry["id"])
            month = next_month(month)
    return shown


def de_minimis_mismatches(grants: Sequence[Row]) -> list[Mismatch]:
    """No undertaking (all its keys together) received more than the ceiling in the three
    years up to any of its grants. Rows: undertaking (root key), granted_on, amount_cents."""
    by_undertaking: dict[str, list[tuple[date, int]]] = defaultdict(list)
    for g in grants:
        by_undertaking[g["undertaking"]].append((g["granted_on"], g["amount_cents"]))
    found = []
    for undertaking, dated in sorted(by_undertaking.items()):
        for on in sorted({d for d, _ in dated}):
            start = de_minimis_window_start(on)
            received = sum(a for d, a in dated if start <= d <= on)
            if received > DE_MINIMIS_CEILING_CENTS:
                found.append(Mismatch("de_minimis", f"undertaking {undertaking}",
                                      f"{received} in the three years to {on}, ceiling "
                                      f"{DE_MINIMIS_CEILING_CENTS}"))
                break
    return found

