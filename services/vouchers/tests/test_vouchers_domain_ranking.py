"""Ranking with plain values: criteria in order, ties broken by submission then id, always a
deterministic permutation."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from cowork.vouchers.domain.eligibility import Declarations
from cowork.vouchers.domain.ranking import Candidate, Criterion, rank

T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def candidate(n: int, submitted_minutes: int = 0, **declared: object) -> Candidate:
    return Candidate(uuid.UUID(int=n), T0 + timedelta(minutes=submitted_minutes),
                     Declarations(**declared))  # type: ignore[arg-type]


def test_tuscany_ranking_younger_first_then_newer_partita_iva() -> None:
    young = candidate(1, 30, birth_date=date(2000, 1, 1), partita_iva_opened_on=date(2020, 1, 1))
    old_new_piva = candidate(2, 10, birth_date=date(1990, 1, 1),
                             partita_iva_opened_on=date(2026, 1, 1))
    old_old_piva = candidate(3, 0, birth_date=date(1990, 1, 1),
                             partita_iva_opened_on=date(2015, 1, 1))
    no_birth_date = candidate(4, 0, partita_iva_opened_on=date(2026, 6, 1))
    ranked = rank([old_old_piva, no_birth_date, young, old_new_piva],
                  [Criterion.YOUNGER_FIRST, Criterion.NEWER_PARTITA_IVA_FIRST])
    assert ranked == [uuid.UUID(int=n) for n in (1, 2, 3, 4)]


def test_ranking_by_status_and_residence() -> None:
    a = candidate(1, 0, residence_istat="006114")
    b = candidate(2, 1, residence_istat="001272", statuses=frozenset({"unemployed"}))
    c = candidate(3, 2)
    d = candidate(4, 3, residence_istat="006114", statuses=frozenset({"unemployed"}))
    assert rank([a, b, c, d], [Criterion.RESIDENT_FIRST, Criterion.UNEMPLOYED_FIRST],
                frozenset({"006114"})) == [d.application_id, a.application_id,
                                           b.application_id, c.application_id]
    assert rank([a, b, c, d], [Criterion.UNEMPLOYED_FIRST]) == [
        b.application_id, d.application_id, a.application_id, c.application_id]


def test_ties_break_by_submission_then_by_id() -> None:
    same = {"birth_date": date(1995, 5, 5)}
    late = candidate(1, 5, **same)
    early_high_id = candidate(9, 0, **same)
    early_low_id = candidate(8, 0, **same)
    assert rank([late, early_high_id, early_low_id], [Criterion.YOUNGER_FIRST]) == [
        uuid.UUID(int=8), uuid.UUID(int=9), uuid.UUID(int=1)]
    # The same instant written in another timezone is the same submission time.
    rome = timezone(timedelta(hours=1))
    shifted = Candidate(uuid.UUID(int=2), T0.astimezone(rome), Declarations(**same))
    assert rank([early_high_id, shifted], [Criterion.YOUNGER_FIRST]) == [
        uuid.UUID(int=2), uuid.UUID(int=9)]


candidates_strategy = st.lists(
    st.builds(
        Candidate,
        application_id=st.uuids(),
        submitted_at=st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m)),
        declared=st.builds(
            Declarations,
            birth_date=st.none() | st.sampled_from([date(1990, 1, 1), date(2000, 1, 1)]),
            residence_istat=st.none() | st.sampled_from(["006114", "048017"]),
            statuses=st.sampled_from([frozenset(), frozenset({"unemployed"})]),
            partita_iva_opened_on=st.none() | st.sampled_from([date(2020, 1, 1),
                                                               date(2026, 1, 1)]))),
    max_size=25, unique_by=lambda c: c.application_id)


@given(candidates_strategy, st.lists(st.sampled_from(list(Criterion)), max_size=4),
       st.randoms(use_true_random=False))
def test_ranking_is_a_deterministic_permutation(candidates: list[Candidate],
                                                criteria: list[Criterion],
                                                rnd: random.Random) -> None:
    ranked = rank(candidates, criteria, frozenset({"006114"}))
    assert sorted(ranked) == sorted(c.application_id for c in candidates)
    shuffled = list(candidates)
    rnd.shuffle(shuffled)
    assert rank(shuffled, criteria, frozenset({"006114"})) == ranked
    # Candidates with identical declarations come out by submission time, then id.
    position = {app_id: i for i, app_id in enumerate(ranked)}
    for a in candidates:
        for b in candidates:
            if a.declared == b.declared and (a.submitted_at, a.application_id) < (
                    b.submitted_at, b.application_id):
                assert position[a.application_id] < position[b.application_id]
