"""The demand summary of the expressions of interest, and the desk count its peak implies.

The implied desk count (docs/community-interest.md): for each weekday x time band, the expected
number of people at a desk is the sum, over the respondents who chose a desk (`hot_desk` or
`fixed_desk`), that weekday and that band, of a weight for how often they said they would come:

    daily 1, weekly 1 (on the days they chose), monthly 1/4, occasional 1/10.

The desk count is that expectation at its peak cell, rounded up. Rooms, booths and event rooms
are booked by the hour and do not need a desk each, so they do not count. Weights are exact
fractions, so 10 occasional respondents make exactly one desk, never 1.0000000001 -> 2.
Adding a respondent never lowers any cell, so the count is monotone in the respondents."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction

from cowork.community.domain.interest import DESK_KINDS, TIME_BANDS, WEEKDAYS, WHO

FREQUENCY_WEIGHTS: dict[str, Fraction] = {
    "daily": Fraction(1), "weekly": Fraction(1), "monthly": Fraction(1, 4),
    "occasional": Fraction(1, 10)}
DESK_KINDS_NEEDING_A_DESK = ("hot_desk", "fixed_desk")


@dataclass(frozen=True)
class Respondent:
    who: str
    desk_kinds: tuple[str, ...]
    weekdays: tuple[str, ...]
    time_bands: tuple[str, ...]
    frequency: str
    would_help_run: bool


@dataclass(frozen=True)
class Peak:
    desks: int                 # the expectation at the peak, rounded up
    expected: Fraction         # the expected desk users at the peak cell
    weekday: str | None        # None when nobody asked for a desk
    time_band: str | None


@dataclass(frozen=True)
class DemandSummary:
    total: int
    by_who: dict[str, int]
    helpers: int
    # (desk kind, weekday, time band) -> respondents who chose all three
    cells: dict[tuple[str, str, str], int]
    # (weekday, time band) -> expected desk users
    expected: dict[tuple[str, str], Fraction]
    peak: Peak = field(default_factory=lambda: Peak(0, Fraction(0), None, None))

    @property
    def helper_share(self) -> float:
        return round(self.helpers / self.total, 4) if self.total else 0.0

    def respondents_by_slot(self) -> dict[tuple[str, str], int]:
        """(weekday, band) -> respondents of any desk kind: the chart's heatmap."""
        slots: Counter[tuple[str, str]] = Counter()
        for (_, day, band), count in self.cells.items():
            slots[day, band] += count
        return {(d, b): slots[d, b] for d in WEEKDAYS for b in TIME_BANDS}


def expected_desk_users(respondents: Iterable[Respondent]) -> dict[tuple[str, str], Fraction]:
    expected = {(day, band): Fraction(0) for day in WEEKDAYS for band in TIME_BANDS}
    for r in respondents:
        if not set(r.desk_kinds) & set(DESK_KINDS_NEEDING_A_DESK):
            continue
        weight = FREQUENCY_WEIGHTS[r.frequency]
        for day in set(r.weekdays):
            for band in set(r.time_bands):
                expected[day, band] += weight
    return expected


def peak_of(expected: dict[tuple[str, str], Fraction]) -> Peak:
    """The busiest cell (the first in week order on a tie) and the desks it needs."""
    best: tuple[str, str] | None = None
    for cell in ((day, band) for day in WEEKDAYS for band in TIME_BANDS):
        if expected.get(cell, Fraction(0)) > (expected[best] if best else Fraction(0)):
            best = cell
    if best is None:
        return Peak(0, Fraction(0), None, None)
    return Peak(math.ceil(expected[best]), expected[best], best[0], best[1])


def summarise(respondents: Iterable[Respondent]) -> DemandSummary:
    people = list(respondents)
    cells = {(kind, day, band): 0 for kind in DESK_KINDS for day in WEEKDAYS
             for band in TIME_BANDS}
    for r in people:
        for kind in set(r.desk_kinds):
            for day in set(r.weekdays):
                for band in set(r.time_bands):
                    cells[kind, day, band] += 1
    by_who = Counter(r.who for r in people)
    expected = expected_desk_users(people)
    return DemandSummary(total=len(people), by_who={w: by_who[w] for w in WHO},
                         helpers=sum(r.would_help_run for r in people), cells=cells,
                         expected=expected, peak=peak_of(expected))


def implied_desks(respondents: Iterable[Respondent]) -> int:
    return peak_of(expected_desk_users(respondents)).desks
