"""The published tables hide every small count, and nothing published gives one back: the
properties over random tables, and an attacker working only from the CSV."""

from __future__ import annotations

import csv
import io
import itertools
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from cowork.community.domain.disclosure import (
    CONFIDENTIAL,
    TOTAL,
    Published,
    records,
    suppress,
    tally,
)

K = 5


def published_csv(table: Published) -> str:
    """The CSV as the open-data build writes it (value empty and flag `c` when hidden)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["residence_istat", "age_band", "members", "flag"])
    for row, col, value in records(table):
        writer.writerow([row, col, "" if value is None else value,
                         CONFIDENTIAL if value is None else ""])
    return out.getvalue()


def read_csv(text: str) -> tuple[dict[tuple[str, str], int], list[tuple[str, str]]]:
    """What the attacker has: the known entries and the hidden ones, as they read the file."""
    known, hidden = {}, []
    for line in csv.DictReader(io.StringIO(text)):
        key = (line["residence_istat"], line["age_band"])
        if line["flag"] == CONFIDENTIAL:
            hidden.append(key)
        else:
            known[key] = int(line["members"])
    return known, hidden


def equations(known: dict[tuple[str, str], int], hidden: list[tuple[str, str]]
              ) -> list[tuple[dict[tuple[str, str], Fraction], Fraction]]:
    """Every total the attacker can read off the file: its cells sum to it."""
    rows = [*sorted({r for r, _ in [*known, *hidden]} - {TOTAL}), TOTAL]
    cols = [*sorted({c for _, c in [*known, *hidden]} - {TOTAL}), TOTAL]
    lines = [[(r, c) for c in cols] for r in rows] + [[(r, c) for r in rows] for c in cols]
    out = []
    for line in lines:
        *cells, total = line
        coefficients: dict[tuple[str, str], Fraction] = {}
        constant = Fraction(0)
        for key, sign in [*((cell, 1) for cell in cells), (total, -1)]:
            if key in known:
                constant -= sign * known[key]
            else:
                coefficients[key] = coefficients.get(key, Fraction(0)) + sign
        out.append((coefficients, constant))
    return out


def recovered_by_differencing(text: str) -> dict[tuple[str, str], Fraction]:
    """Gauss-Jordan elimination over the rationals: every hidden entry that some combination of
    the published totals isolates, with its value."""
    known, hidden = read_csv(text)
    pivots: list[tuple[tuple[str, str], dict[tuple[str, str], Fraction], Fraction]] = []
    for coefficients, constant in equations(known, hidden):
        row, value = dict(coefficients), constant
        for key, p_row, p_value in pivots:
            factor = row.pop(key, Fraction(0))
            if factor:
                for other, coefficient in p_row.items():
                    if other != key:
                        row[other] = row.get(other, Fraction(0)) - factor * coefficient
                value -= factor * p_value
        row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {k: v / scale for k, v in row.items()}
        value /= scale
        reduced = []
        for key, p_row, p_value in pivots:
            factor = p_row.get(pivot, Fraction(0))
            if factor:
                p_row = {k: p_row.get(k, Fraction(0)) - factor * row.get(k, Fraction(0))
                         for k in set(p_row) | set(row)}
                p_row = {k: v for k, v in p_row.items() if v}
                p_value -= factor * value
            reduced.append((key, p_row, p_value))
        pivots = [*reduced, (pivot, row, value)]
    return {key: value for key, p_row, value in pivots if set(p_row) == {key}}


def counts_strategy() -> st.SearchStrategy[tuple[list[str], list[str], dict[tuple[str, str], int]]]:
    def table(shape: tuple[int, int]) -> st.SearchStrategy[
            tuple[list[str], list[str], dict[tuple[str, str], int]]]:
        rows = [f"r{i}" for i in range(shape[0])]
        cols = [f"c{j}" for j in range(shape[1])]
        cell = st.one_of(st.integers(0, 4), st.integers(0, 40))
        return st.lists(cell, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]).map(
            lambda values: (rows, cols, dict(zip(itertools.product(rows, cols), values,
                                                 strict=True))))
    return st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(table)


@settings(max_examples=150, deadline=None)
@given(counts_strategy())
def test_every_small_count_is_hidden_and_no_total_gives_one_back(
        table: tuple[list[str], list[str], dict[tuple[str, str], int]]) -> None:
    rows, cols, counts = table
    published = suppress(rows, cols, counts, k=K)
    for key, value in published.cells.items():
        assert value is None or value == 0 or value >= K, (key, value)
        if value is not None:
            assert value == counts[key]  # what is published is true
    text = published_csv(published)
    recovered = recovered_by_differencing(text)
    truth = {(r, c): v for r, c, v in records(suppress(rows, cols, counts, k=1))}
    leaked = {key: value for key, value in recovered.items() if truth[key] != 0}
    assert leaked == {}, (counts, text)
    # Every line with a hidden entry has at least two (or it would give it back).
    for r in rows:
        line = [published.cells[(r, c)] for c in cols] + [published.row_totals[r]]
        assert line.count(None) != 1
    for c in cols:
        line = [published.cells[(r, c)] for r in rows] + [published.col_totals[c]]
        assert line.count(None) != 1


@settings(max_examples=60, deadline=None)
@given(counts_strategy(), st.integers(1, 8))
def test_a_larger_k_never_publishes_more(
        table: tuple[list[str], list[str], dict[tuple[str, str], int]], k: int) -> None:
    rows, cols, counts = table
    small = suppress(rows, cols, counts, k=k)
    assert all(value is None for key, value in small.cells.items() if 0 < counts[key] < k)


def feasible_values(text: str, target: tuple[str, str], limit: int = 60) -> set[int]:
    """Every value the target can take in some non-negative integer table that matches the
    file: the attacker's bound attack, by exhaustive search (small tables only)."""
    known, hidden = read_csv(text)
    eqs = equations(known, hidden)
    order = sorted(hidden)
    found: set[int] = set()

    def search(assigned: dict[tuple[str, str], int]) -> None:
        for coefficients, constant in eqs:
            free = [k for k in coefficients if k not in assigned]
            rest = constant - sum(c * assigned[k] for k, c in coefficients.items()
                                  if k in assigned)
            if not free and rest != 0:
                return
            if len(free) == 1:  # forced by this total: no branching
                value = rest / coefficients[free[0]]
                if value.denominator != 1 or not 0 <= value <= limit:
                    return
                search({**assigned, free[0]: int(value)})
                return
        open_keys = [k for k in order if k not in assigned]
        if not open_keys:
            found.add(assigned[target])
            return
        for value in range(limit + 1):
            search({**assigned, open_keys[0]: value})

    search({})
    return found


def test_the_only_person_of_their_age_band_in_their_town_cannot_be_singled_out() -> None:
    """Gavi (006079) has one member aged 65+: the attacker knows the file and that counts are
    never negative, and still cannot tell 1 from other counts."""
    people = ([("006114", "25-34")] * 12 + [("006114", "35-44")] * 9 + [("006114", "65+")] * 6
              + [("006079", "25-34")] * 7 + [("006079", "35-44")] * 5 + [("006079", "65+")]
              + [("006039", "25-34")] * 3 + [("006039", "35-44")] * 8)
    rows, cols = ["006039", "006079", "006114"], ["25-34", "35-44", "65+"]
    published = suppress(rows, cols, tally(people), k=K)
    assert published.cells[("006079", "65+")] is None
    text = published_csv(published)
    assert "006079,65+,1" not in text
    assert ("006079", "65+") not in recovered_by_differencing(text)
    possible = feasible_values(text, ("006079", "65+"), limit=30)
    assert 1 in possible and len(possible) >= K  # never pinned to one count, nor to a few


def test_a_published_zero_and_large_cells_stay_published() -> None:
    published = suppress(["a", "b"], ["x", "y"], {("a", "x"): 0, ("a", "y"): 9,
                                                 ("b", "x"): 12, ("b", "y"): 30}, k=K)
    assert published.suppressed_count() == 0
    assert published.grand_total == 51
