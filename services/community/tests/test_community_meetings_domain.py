"""The seat rules, pure: whatever sequence of registrations, cancellations and capacity changes,
never more seats held than capacity, nobody waits while a seat is free, and the waiting list
is served in order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cowork.community.domain.meetings import (
    CODE_ALPHABET,
    SeatBook,
    new_code,
    normal_code,
    promoted_status,
    registration_refusal,
    token_digest,
    window_problem,
)

STEPS = st.lists(st.one_of(st.tuples(st.just("register"), st.integers(0, 50)),
                           st.tuples(st.just("cancel"), st.integers(0, 50)),
                           st.tuples(st.just("resize"), st.integers(1, 20))), max_size=80)


@given(st.integers(1, 10), STEPS)
def test_seats_never_exceed_capacity_and_nobody_waits_beside_a_free_seat(
        capacity: int, steps: list[tuple[str, int]]) -> None:
    book = SeatBook(capacity)
    for op, n in steps:
        order_before = list(book.waiting)
        if op == "register" and n not in book.holding and n not in book.waiting:
            status, position = book.register(n)
            assert (status == "waitlisted") == (position is not None)
            if position is not None:
                assert book.waiting[position - 1] == n
        elif op == "cancel":
            promoted = book.cancel(n)
            assert promoted == [w for w in order_before if w != n][:len(promoted)]
        elif op == "resize" and n >= len(book.holding):
            book.resize(n)
        assert len(book.holding) <= book.capacity
        assert not book.waiting or len(book.holding) == book.capacity
        assert not set(book.holding) & set(book.waiting)


def test_promotion_needs_a_confirmed_address_to_skip_confirmation() -> None:
    assert promoted_status(True) == "confirmed"
    assert promoted_status(False) == "pending_confirmation"


def test_the_registration_window() -> None:
    start = datetime(2027, 3, 15, 9, tzinfo=UTC)
    opens, closes = start - timedelta(days=10), start - timedelta(days=1)
    refuse = lambda now, status="published": registration_refusal(  # noqa: E731
        now, status=status, starts_at=start, opens=opens, closes=closes)
    assert refuse(opens - timedelta(seconds=1)) == "registration_not_open_yet"
    assert refuse(opens) is None
    assert refuse(closes) == "registration_closed"
    assert refuse(opens, "cancelled") == "meeting_not_open"
    assert registration_refusal(start - timedelta(minutes=1), status="published",
                                starts_at=start, opens=None, closes=None) is None
    assert registration_refusal(start, status="published", starts_at=start, opens=None,
                                closes=None) == "registration_closed"


def test_times_that_make_no_sense_name_their_field() -> None:
    start = datetime(2027, 3, 15, 9, tzinfo=UTC)
    assert window_problem(start, start, None, None) == ("end", "must be after start")
    assert window_problem(start, start + timedelta(hours=1), start, None)[0] == \
        "registration_opens"  # type: ignore[index]
    assert window_problem(start, start + timedelta(hours=1), None,
                          start + timedelta(minutes=1))[0] == "registration_closes"  # type: ignore[index]


@given(st.integers(0, 100))
def test_codes_are_unambiguous_and_typed_any_case(_: int) -> None:
    code = new_code()
    assert len(code) == 8 and set(code) <= set(CODE_ALPHABET)
    assert not set(code) & set("01OIL")
    assert normal_code(f" {code[:4].lower()}-{code[4:]} ") == code


def test_tokens_are_kept_as_sha256_digests() -> None:
    assert len(token_digest("abc")) == 32
    assert token_digest("abc") != token_digest("abd")
