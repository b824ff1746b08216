"""JSON types are not coerced anywhere in a request body (issue 20): not only a bare `int` or
`bool` field, but one inside `Annotated[int | None, ...]`, a list, a dict's values or a nested
model (attack-identity)."""

# No `from __future__ import annotations`: pydantic reads these annotations.

from typing import Annotated

import pytest
from pydantic import Field, ValidationError

from cowork.shared.api import Cents, Strict


class Line(Strict):
    quantity: int


class Order(Strict):
    weeks: Annotated[int | None, Field(ge=1, le=52)] = None
    caps: dict[str, Cents] = Field(default_factory=dict)
    desks: list[int] = Field(default_factory=list)
    flags: list[bool] = Field(default_factory=list)
    lines: list[Line] = Field(default_factory=list)


@pytest.mark.parametrize(("body", "field"), [
    ({"weeks": "3"}, "weeks"),
    ({"weeks": True}, "weeks"),
    ({"caps": {"hot_desk": "500"}}, "caps"),
    ({"desks": ["1", 2]}, "desks"),
    ({"flags": [0, 1]}, "flags"),
    ({"lines": [{"quantity": "2"}]}, "lines"),
])
def test_no_coercion_at_any_depth(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Order.model_validate(body)
    assert refused.value.errors()[0]["loc"][0] == field


def test_the_right_types_still_pass() -> None:
    order = Order.model_validate({"weeks": 3, "caps": {"hot_desk": 500}, "desks": [1, 2],
                                  "flags": [True], "lines": [{"quantity": 2}]})
    assert (order.weeks, order.caps, order.desks, order.flags) == (3, {"hot_desk": 500}, [1, 2],
                                                                   [True])


def test_real_request_models_take_no_text_for_numbers() -> None:
    from cowork.booking.api.schemas import NewSeries
    from cowork.vouchers.api.programme_schemas import NewProgramme

    for model, field, value in [(NewSeries, "weeks", "3"), (NewSeries, "count", True),
                                (NewProgramme, "kind_caps_cents", {"hot_desk": "500"})]:
        with pytest.raises(ValidationError) as refused:
            model.model_validate({field: value})
        assert field in {e["loc"][0] for e in refused.value.errors()}, (model, field)
