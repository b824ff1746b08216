"""A batch of redemptions paid in memory, with plain values: each payment moves its
programme's balances and its voucher together, never pays more than the voucher has left,
pays a source event (and a booking) once, and leaves every entry balanced."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cowork.vouchers.domain.ledger import (
    LedgerViolation,
    Movement,
    ProgrammeBalances,
    postings,
    share_of,
)
from cowork.vouchers.domain.redemptions import (
    Option,
    PaidBatch,
    Source,
    SubsidyRules,
    VoucherState,
)

EUR = 100  # cents
MILAN_2013 = SubsidyRules(coverage_pct=50, cap_per_beneficiary_cents=1_500 * EUR,
                          cap_per_year_cents=1_500 * EUR)
PERIOD = "2027-03"
MEMBER = uuid.UUID(int=1)


def programme(*voucher_amounts: int, spent: int = 0, extra: int = 10_000 * EUR
              ) -> tuple[ProgrammeBalances, list[VoucherState]]:
    """A programme's balances with vouchers granted, each already `spent` into."""
    balances = ProgrammeBalances(budget_cents=sum(voucher_amounts) + extra)
    balances.apply(Movement.OPEN, balances.budget_cents)
    programme_id = uuid.uuid4()
    vouchers = []
    for amount in voucher_amounts:
        balances.apply(Movement.GRANT, amount)
        if spent:
            balances.apply(Movement.REDEEM, spent)
        vouchers.append(VoucherState(uuid.uuid4(), programme_id, "active", amount,
                                     amount - spent, 0, {}, {2027: spent} if spent else {}))
    return balances, vouchers


def booking(charged: int, *, booking_id: uuid.UUID | None = None,
            event_id: uuid.UUID | None = None, kind: str = "hot_desk") -> Source:
    return Source(type="booking", id=booking_id or uuid.uuid4(),
                  event_id=event_id or uuid.uuid4(), member_id=MEMBER, price_cents=charged,
                  charged_cents=charged, used_on=date(2027, 3, 10), space_id=uuid.uuid4(),
                  resource_kind=kind)


def options(balances: ProgrammeBalances, vouchers: list[VoucherState],
            rules: SubsidyRules = MILAN_2013) -> list[Option]:
    return [Option(v, rules, balances, PERIOD) for v in vouchers]


def test_a_payment_moves_the_balances_and_the_voucher_together() -> None:
    balances, [voucher] = programme(1_500 * EUR)
    batch = PaidBatch()
    payment = batch.pay_first(booking(300 * EUR), options(balances, [voucher]))
    assert payment is not None
    assert (payment.subsidy_cents, payment.remaining_cents) == (150 * EUR, 1_350 * EUR)
    assert (voucher.remaining_cents, voucher.by_kind, voucher.by_year) == (
        1_350 * EUR, {"hot_desk": 150 * EUR}, {2027: 150 * EUR})
    assert (balances.committed_cents, balances.disbursed_cents) == (1_350 * EUR, 150 * EUR)
    assert batch.payments == [payment]
    assert batch.balances == {voucher.programme_id: balances}
    assert list(batch.vouchers) == [voucher.id]


def test_the_first_voucher_that_pays_pays() -> None:
    balances, [ended, empty, capped, paying] = programme(
        1_500 * EUR, 1_500 * EUR, 1_500 * EUR, 1_500 * EUR)
    ended.status = "expired"
    empty.remaining_cents, empty.released_cents = 0, 1_500 * EUR
    capped.by_year = {2027: 1_500 * EUR}  # Milan's yearly cap reached
    payment = PaidBatch().pay_first(booking(100 * EUR),
                                    options(balances, [ended, empty, capped, paying]))
    assert payment is not None and payment.voucher_id == paying.id
    assert [v.remaining_cents for v in (ended, empty, capped)] == [1_500 * EUR, 0, 1_500 * EUR]


def test_nothing_to_pay_leaves_everything_as_it_was() -> None:
    balances, [voucher] = programme(1_500 * EUR)
    before = (ProgrammeBalances(**vars(balances)), voucher.remaining_cents)
    batch = PaidBatch()
    assert batch.pay_first(booking(0), options(balances, [voucher])) is None  # plan included
    assert batch.pay_first(booking(100 * EUR), []) is None                  # no voucher
    assert (balances, voucher.remaining_cents) == before
    assert batch.payments == []


def test_an_event_and_a_booking_are_paid_once_per_batch() -> None:
    balances, [voucher] = programme(1_500 * EUR)
    batch = PaidBatch()
    first = booking(100 * EUR)
    assert batch.pay_first(first, options(balances, [voucher])) is not None
    redelivered = booking(100 * EUR, event_id=first.event_id)
    same_booking = booking(100 * EUR, booking_id=first.id)
    assert batch.already_paid(redelivered) and batch.already_paid(same_booking)
    assert batch.pay_first(redelivered, options(balances, [voucher])) is None
    assert batch.pay_first(same_booking, options(balances, [voucher])) is None
    assert len(batch.payments) == 1 and voucher.remaining_cents == 1_450 * EUR


@pytest.mark.parametrize("subsidy", [0, -1, 1_500 * EUR + 1, True])
def test_a_payment_the_voucher_cannot_make_is_refused_and_changes_nothing(subsidy: int) -> None:
    balances, [voucher] = programme(1_500 * EUR)
    before = (ProgrammeBalances(**vars(balances)), voucher.remaining_cents)
    batch = PaidBatch()
    with pytest.raises(LedgerViolation):
        batch.add(voucher, balances, booking(10_000 * EUR), subsidy, PERIOD)
    assert (balances, voucher.remaining_cents, voucher.by_year) == (*before, {})
    assert batch.payments == []


def test_an_ended_voucher_pays_nothing_even_when_asked_directly() -> None:
    balances, [voucher] = programme(1_500 * EUR)
    voucher.status = "revoked"
    with pytest.raises(LedgerViolation, match="not active"):
        PaidBatch().add(voucher, balances, booking(100 * EUR), 50 * EUR, PERIOD)
    assert balances.disbursed_cents == 0


def test_the_80_percent_mark_is_crossed_by_one_payment_only() -> None:
    balances, [voucher] = programme(1_000 * EUR)
    batch = PaidBatch()
    crossed = [batch.pay_first(booking(charge), options(balances, [voucher], SubsidyRules(
        coverage_pct=100, cap_per_beneficiary_cents=1_000 * EUR)))
        for charge in (700 * EUR, 99 * EUR, 1 * EUR, 150 * EUR, 50 * EUR)]
    assert [p.threshold_crossed for p in crossed if p] == [False, False, True, False, False]
    assert voucher.remaining_cents == 0


# ---------------------------------------------------------------- properties

rules_strategy = st.builds(
    SubsidyRules, coverage_pct=st.integers(0, 100),
    cap_per_beneficiary_cents=st.integers(1, 10**6),
    cap_per_year_cents=st.none() | st.integers(0, 10**6),
    kind_caps_cents=st.dictionaries(st.sampled_from(["hot_desk", "fixed_desk"]),
                                    st.integers(0, 10**6), max_size=2),
    min_eligible_cost_cents=st.integers(0, 10**4))

sources_strategy = st.lists(st.tuples(
    st.integers(0, 9),                 # which event (repeats are redeliveries)
    st.integers(0, 6),                 # which booking (repeats: another event, same booking)
    st.sampled_from(["booking", "membership"]),
    st.integers(0, 10**6),             # charged
    st.sampled_from(["hot_desk", "fixed_desk", "meeting_room"])), max_size=40)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6), st.booleans()),
                min_size=1, max_size=4),
       st.lists(rules_strategy, min_size=2, max_size=2), sources_strategy, st.randoms())
def test_a_batch_never_pays_more_than_a_voucher_has_and_every_entry_balances(
        specs: list[tuple[int, int, bool]], rules: list[SubsidyRules],
        raw_sources: list[tuple[int, int, str, int, str]], rnd: object) -> None:
    # Two programmes; each voucher belongs to one, some already partly spent.
    programmes = {uuid.UUID(int=100 + i): ProgrammeBalances(budget_cents=10**8) for i in (0, 1)}
    for b in programmes.values():
        b.apply(Movement.OPEN, b.budget_cents)
    vouchers = []
    for n, (amount, spent, second) in enumerate(specs):
        programme_id = uuid.UUID(int=101 if second else 100)
        spent = min(spent, amount)
        programmes[programme_id].apply(Movement.GRANT, amount)
        if spent:
            programmes[programme_id].apply(Movement.REDEEM, spent)
        vouchers.append(VoucherState(uuid.UUID(int=n + 1), programme_id, "active", amount,
                                     amount - spent, 0, {}, {}))
    initial_remaining = {v.id: v.remaining_cents for v in vouchers}
    initial = {p: ProgrammeBalances(**vars(b)) for p, b in programmes.items()}
    rules_of = {uuid.UUID(int=100): rules[0], uuid.UUID(int=101): rules[1]}
    batch = PaidBatch()
    for event, booking_n, kind_of_source, charged, kind in raw_sources:
        source = Source(type=kind_of_source, id=uuid.UUID(int=1000 + booking_n),
                        event_id=uuid.UUID(int=2000 + event), member_id=MEMBER,
                        price_cents=charged, charged_cents=charged, used_on=date(2027, 3, 10),
                        resource_kind=kind if kind_of_source == "booking" else None)
        order = list(vouchers)
        rnd.shuffle(order)  # type: ignore[attr-defined]
        paid_before = batch.already_paid(source)
        payment = batch.pay_first(source, [
            Option(v, rules_of[v.programme_id], programmes[v.programme_id], PERIOD)
            for v in order])
        if paid_before:
            assert payment is None
        if payment is not None:
            assert 0 < payment.subsidy_cents <= share_of(charged, rules_of[
                payment.programme_id].coverage_pct)
            assert payment.remaining_cents >= 0

    paid_by_voucher = Counter[uuid.UUID]()
    remaining_after = dict(initial_remaining)
    for p in batch.payments:
        # Each payment is at most what its voucher had left at that moment.
        assert p.subsidy_cents <= remaining_after[p.voucher_id]
        remaining_after[p.voucher_id] -= p.subsidy_cents
        assert p.remaining_cents == remaining_after[p.voucher_id]
        paid_by_voucher[p.voucher_id] += p.subsidy_cents
        assert sum(x.amount_cents for x in postings(Movement.REDEEM, p.subsidy_cents)) == 0
    for v in vouchers:
        assert v.remaining_cents == initial_remaining[v.id] - paid_by_voucher[v.id] >= 0
    # The balances moved by exactly what was paid, and still add up to the budget.
    for programme_id, b in programmes.items():
        paid = sum(p.subsidy_cents for p in batch.payments if p.programme_id == programme_id)
        assert b.committed_cents == initial[programme_id].committed_cents - paid >= 0
        assert b.disbursed_cents == initial[programme_id].disbursed_cents + paid
        assert b.available_cents == initial[programme_id].available_cents
        assert b.available_cents + b.committed_cents + b.disbursed_cents == b.budget_cents
    # An event is paid once, and a booking once.
    assert len({p.source.event_id for p in batch.payments}) == len(batch.payments)
    bookings = [p.source.id for p in batch.payments if p.source.type == "booking"]
    assert len(set(bookings)) == len(bookings)
    # The 80 % mark of a voucher is crossed at most once.
    assert all(n <= 1 for n in Counter(
        p.voucher_id for p in batch.payments if p.threshold_crossed).values())
