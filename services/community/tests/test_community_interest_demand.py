"""The demand summary's arithmetic (pure domain code): the counts add up and the implied desk
count follows the documented rule, never dropping when someone else says they would come."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cowork.community.domain.demand import Respondent, implied_desks, summarise
from cowork.community.domain.interest import DESK_KINDS, FREQUENCIES, TIME_BANDS, WEEKDAYS, WHO


def _some(values: tuple[str, ...]) -> st.SearchStrategy[tuple[str, ...]]:
    return st.lists(st.sampled_from(values), min_size=1, max_size=len(values),
                    unique=True).map(tuple)


RESPONDENTS = st.builds(Respondent, who=st.sampled_from(WHO), desk_kinds=_some(DESK_KINDS),
                        weekdays=_some(WEEKDAYS), time_bands=_some(TIME_BANDS),
                        frequency=st.sampled_from(FREQUENCIES), would_help_run=st.booleans())


def person(frequency: str = "weekly", desk_kinds: tuple[str, ...] = ("hot_desk",),
           weekdays: tuple[str, ...] = ("mon",), time_bands: tuple[str, ...] = ("morning",),
           who: str = "citizen", helps: bool = False) -> Respondent:
    return Respondent(who, desk_kinds, weekdays, time_bands, frequency, helps)


@given(st.lists(RESPONDENTS, max_size=30))
def test_the_totals_add_up(people: list[Respondent]) -> None:
    summary = summarise(people)
    assert summary.total == len(people) == sum(summary.by_who.values())
    assert summary.helpers == sum(p.would_help_run for p in people)
    assert 0 <= summary.helper_share <= 1
    # every cell counts the respondents who chose all three of its values
    chosen = sum(len(p.desk_kinds) * len(p.weekdays) * len(p.time_bands) for p in people)
    assert sum(summary.cells.values()) == chosen
    assert len(summary.cells) == len(DESK_KINDS) * len(WEEKDAYS) * len(TIME_BANDS)
    assert sum(summary.respondents_by_slot().values()) == chosen


@given(st.lists(RESPONDENTS, max_size=30), RESPONDENTS)
def test_the_implied_desk_count_never_drops_when_someone_more_answers(
        people: list[Respondent], newcomer: Respondent) -> None:
    assert implied_desks([*people, newcomer]) >= implied_desks(people)


@given(st.lists(RESPONDENTS, max_size=30))
def test_the_desk_count_is_bounded_by_the_desk_seekers(people: list[Respondent]) -> None:
    seekers = [p for p in people if {"hot_desk", "fixed_desk"} & set(p.desk_kinds)]
    assert implied_desks(people) <= len(seekers)
    assert (implied_desks(people) == 0) == (not seekers)


def test_the_frequency_weights_as_documented() -> None:
    assert implied_desks([person("daily")] * 3) == 3
    assert implied_desks([person("weekly")] * 3) == 3
    assert implied_desks([person("monthly")] * 4) == 1     # 4 x 1/4
    assert implied_desks([person("monthly")] * 5) == 2     # 1.25, rounded up
    assert implied_desks([person("occasional")] * 10) == 1  # exactly 1, no float drift
    assert implied_desks([person("occasional")] * 11) == 2


def test_the_peak_is_one_cell_not_the_sum_of_the_week() -> None:
    monday, tuesday = person(weekdays=("mon",)), person(weekdays=("tue",))
    summary = summarise([monday, monday, tuesday])
    assert summary.peak.desks == 2
    assert (summary.peak.weekday, summary.peak.time_band) == ("mon", "morning")


def test_rooms_booths_and_event_rooms_need_no_desk() -> None:
    rooms = [person("daily", desk_kinds=("meeting_room", "phone_booth", "event_room"))] * 5
    summary = summarise(rooms)
    assert summary.peak.desks == 0 and summary.peak.weekday is None
    assert summary.cells["meeting_room", "mon", "morning"] == 5
    assert implied_desks([*rooms, person(desk_kinds=("fixed_desk", "meeting_room"))]) == 1
