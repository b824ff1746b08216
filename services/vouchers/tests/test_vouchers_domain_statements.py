"""The statement's bytes with plain values: the same lines always give the same JSON, CSV and
SHA-256."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cowork.vouchers.domain.statements import (
    STATEMENT_COLUMNS,
    StatementLine,
    first_unissued,
    month_of,
    next_month,
    render_statement,
)

EUR = 100  # cents
T0 = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
PROGRAMME = uuid.UUID("00000000-0000-4000-8000-00000000a001")
SPACE = uuid.UUID("00000000-0000-4000-8000-00000000b001")


def line(n: int, minute: int, amount: int, *, space: uuid.UUID | None = SPACE,
         at: datetime | None = None) -> StatementLine:
    return StatementLine(
        entry_id=uuid.UUID(int=1000 + n), recorded_at=at or T0 + timedelta(minutes=minute),
        kind="redemption" if amount > 0 else "reversal", voucher_id=uuid.UUID(int=2000 + n),
        member_id=uuid.UUID(int=3000 + n), space_id=space,
        source_type="booking" if space else "membership", source_id=uuid.UUID(int=4000 + n),
        source_event_id=uuid.UUID(int=5000 + n), price_cents=abs(amount) * 2,
        amount_cents=amount)


LINES = [line(1, 0, 150 * EUR), line(2, 5, 40 * EUR), line(3, 5, -25 * EUR),
         line(4, 9, 400 * EUR, space=None), line(5, 60, -150 * EUR)]


def test_statement_totals_and_document() -> None:
    statement = render_statement(PROGRAMME, "2027-03", LINES)
    assert (statement.redeemed_cents, statement.reversed_cents, statement.net_cents,
            statement.lines) == (590 * EUR, 175 * EUR, 415 * EUR, 5)
    document = json.loads(statement.json_bytes)
    assert document["programme_id"] == str(PROGRAMME)
    assert document["period"] == "2027-03"
    assert (document["redeemed_cents"], document["reversed_cents"], document["net_cents"]) == (
        590 * EUR, 175 * EUR, 415 * EUR)
    assert [row["entry_id"] for row in document["lines"]] == [
        str(uuid.UUID(int=1000 + n)) for n in (1, 2, 3, 4, 5)]
    assert document["lines"][0]["recorded_at"] == "2027-03-01T09:00:00.000000Z"
    assert document["lines"][3]["space_id"] is None
    assert statement.sha256 == hashlib.sha256(statement.json_bytes).hexdigest()


def test_an_auditor_recomputes_the_hash_from_the_json() -> None:
    statement = render_statement(PROGRAMME, "2027-03", LINES)
    recanonicalised = json.dumps(json.loads(statement.json_bytes), sort_keys=True,
                                 separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert recanonicalised == statement.json_bytes
    assert hashlib.sha256(recanonicalised).hexdigest() == statement.sha256


@given(st.randoms(use_true_random=False))
def test_shuffled_lines_give_the_same_bytes_and_hash(rnd: random.Random) -> None:
    reference = render_statement(PROGRAMME, "2027-03", LINES)
    shuffled = list(LINES)
    rnd.shuffle(shuffled)
    statement = render_statement(PROGRAMME, "2027-03", shuffled)
    assert statement == reference


def test_the_same_instant_in_another_timezone_gives_the_same_bytes() -> None:
    rome = timezone(timedelta(hours=1))
    moved = [line(n, 0, 10, at=(T0 + timedelta(minutes=n)).astimezone(rome)) for n in (1, 2)]
    in_utc = [line(n, n, 10) for n in (1, 2)]
    assert render_statement(PROGRAMME, "2027-03", moved) == \
        render_statement(PROGRAMME, "2027-03", in_utc)


def test_csv_parses_back_to_the_lines() -> None:
    statement = render_statement(PROGRAMME, "2027-03", list(reversed(LINES)))
    rows = list(csv.DictReader(io.StringIO(statement.csv_bytes.decode("utf-8"), newline="")))
    assert tuple(rows[0]) == STATEMENT_COLUMNS
    assert statement.csv_bytes.count(b"\r\n") == len(LINES) + 1
    parsed = [StatementLine(
        entry_id=uuid.UUID(r["entry_id"]),
        recorded_at=datetime.strptime(r["recorded_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        kind=r["kind"], voucher_id=uuid.UUID(r["voucher_id"]), member_id=uuid.UUID(r["member_id"]),
        space_id=uuid.UUID(r["space_id"]) if r["space_id"] else None,
        source_type=r["source_type"], source_id=uuid.UUID(r["source_id"]),
        source_event_id=uuid.UUID(r["source_event_id"]), price_cents=int(r["price_cents"]),
        amount_cents=int(r["amount_cents"])) for r in rows]
    assert parsed == LINES  # LINES is in (recorded_at, entry_id) order already


def test_an_empty_month_is_a_statement_too() -> None:
    statement = render_statement(PROGRAMME, "2027-04", [])
    assert statement.json_bytes == (
        b'{"lines":[],"net_cents":0,"period":"2027-04","programme_id":"'
        + str(PROGRAMME).encode() + b'","redeemed_cents":0,"reversed_cents":0}')
    assert statement.csv_bytes == (",".join(STATEMENT_COLUMNS) + "\r\n").encode()


@pytest.mark.parametrize("period", ["2027-13", "2027-3", "27-03", "2027-03-01", ""])
def test_a_statement_period_is_a_month(period: str) -> None:
    with pytest.raises(ValueError):
        render_statement(PROGRAMME, period, LINES)


def test_a_statement_refuses_inconsistent_lines() -> None:
    wrong_sign = StatementLine(**{**vars(line(9, 0, 10)), "kind": "reversal"})
    with pytest.raises(ValueError):
        render_statement(PROGRAMME, "2027-03", [wrong_sign])
    with pytest.raises(ValueError):
        render_statement(PROGRAMME, "2027-03", [line(1, 0, 10), line(1, 0, 10)])
    naive = line(7, 0, 10, at=datetime(2027, 3, 1, 9, 0))
    with pytest.raises(ValueError):
        render_statement(PROGRAMME, "2027-03", [naive])


def test_a_line_lands_in_the_first_month_not_issued_yet() -> None:
    # 22:00 UTC on 31 March is midnight, 1 April, in Rome (CEST)
    assert month_of(datetime(2027, 3, 31, 21, 59, tzinfo=UTC)) == "2027-03"
    assert month_of(datetime(2027, 3, 31, 22, 0, tzinfo=UTC)) == "2027-04"
    assert next_month("2027-03") == "2027-04"
    assert next_month("2027-12") == "2028-01"
    assert first_unissued("2027-03", set()) == "2027-03"
    assert first_unissued("2027-03", {"2027-03", "2027-04", "2027-06"}) == "2027-05"
    assert first_unissued("2027-12", {"2027-12"}) == "2028-01"
