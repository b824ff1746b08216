"""Monthly statements: which month a ledger line belongs to, and the document (canonical JSON,
CSV, SHA-256) that the same lines always give byte for byte."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from cowork.vouchers.domain.dates import ROME, in_utc

STATEMENT_COLUMNS = ("entry_id", "recorded_at", "kind", "voucher_id", "member_id", "space_id",
                     "source_type", "source_id", "source_event_id", "price_cents", "amount_cents")
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def is_period(text: str) -> bool:
    """Exactly YYYY-MM (fullmatch: `$` would also match before a final newline)."""
    return _PERIOD.fullmatch(text) is not None


def month_of(moment: datetime) -> str:
    """The statement period (YYYY-MM) of an instant, by the calendar of Europe/Rome."""
    return moment.astimezone(ROME).strftime("%Y-%m")


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def first_unissued(period: str, issued: set[str]) -> str:
    """`period`, or the first later month whose statement is not issued yet: a line is
    assigned to one statement, once, and an issued statement never changes."""
    while period in issued:
        period = next_month(period)
    return period


@dataclass(frozen=True)
class StatementLine:
    entry_id: UUID
    recorded_at: datetime
    kind: str              # "redemption" | "reversal"
    voucher_id: UUID
    member_id: UUID
    space_id: UUID | None
    source_type: str       # "booking" | "membership"
    source_id: UUID
    source_event_id: UUID
    price_cents: int
    amount_cents: int      # positive for a redemption, negative for a reversal


@dataclass(frozen=True)
class StatementDocument:
    json_bytes: bytes      # canonical: sorted keys, no spaces, lines in (recorded_at, entry_id)
    csv_bytes: bytes
    sha256: str            # of json_bytes
    redeemed_cents: int
    reversed_cents: int
    net_cents: int
    lines: int


def render_statement(programme_id: UUID, period: str, lines: Sequence[StatementLine]
                     ) -> StatementDocument:
    """The same lines always give the same bytes, whatever order they come in."""
    if not is_period(period):
        raise ValueError(f"a statement period is YYYY-MM, not {period!r}")
    ordered = sorted(lines, key=lambda line: (in_utc(line.recorded_at), line.entry_id.int))
    for line in ordered:
        _check_line(line)
    ids = [line.entry_id for line in ordered]
    if len(set(ids)) != len(ids):
        raise ValueError("a ledger entry appears twice in the statement")
    redeemed = sum(line.amount_cents for line in ordered if line.amount_cents > 0)
    reversed_ = -sum(line.amount_cents for line in ordered if line.amount_cents < 0)
    rows = [_line_fields(line) for line in ordered]
    document = {"programme_id": str(programme_id), "period": period, "lines": rows,
                "redeemed_cents": redeemed, "reversed_cents": reversed_,
                "net_cents": redeemed - reversed_}
    json_bytes = canonical_json(document)
    return StatementDocument(
        json_bytes=json_bytes, csv_bytes=_csv(rows),
        sha256=hashlib.sha256(json_bytes).hexdigest(), redeemed_cents=redeemed,
        reversed_cents=reversed_, net_cents=redeemed - reversed_, lines=len(rows))


def canonical_json(document: object) -> bytes:
    """The one serialisation that is hashed: keys sorted, no spaces, UTF-8 (not \\u-escaped)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def rfc3339_utc(moment: datetime) -> str:
    """A time as the statement writes it: UTC, always six decimals, 'Z'."""
    return in_utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _check_line(line: StatementLine) -> None:
    expected_sign = {"redemption": 1, "reversal": -1}.get(line.kind)
    if expected_sign is None:
        raise ValueError(f"a statement line is a redemption or a reversal, not {line.kind!r}")
    if line.amount_cents * expected_sign <= 0:
        raise ValueError(f"a {line.kind} of {line.amount_cents} cents has the wrong sign")


def _line_fields(line: StatementLine) -> dict[str, object]:
    return {"entry_id": str(line.entry_id), "recorded_at": rfc3339_utc(line.recorded_at),
            "kind": line.kind, "voucher_id": str(line.voucher_id),
            "member_id": str(line.member_id),
            "space_id": None if line.space_id is None else str(line.space_id),
            "source_type": line.source_type, "source_id": str(line.source_id),
            "source_event_id": str(line.source_event_id), "price_cents": line.price_cents,
            "amount_cents": line.amount_cents}


def _csv(rows: Sequence[Mapping[str, object]]) -> bytes:
    """RFC 4180 CSV (CRLF line ends), header first, the JSON's lines in the same order; an
    empty cell is a null (a membership has no space)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(STATEMENT_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in STATEMENT_COLUMNS])
    return out.getvalue().encode("utf-8")
