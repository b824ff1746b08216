"""The monthly datasets, from what the statistics tables keep: pure functions from rows to CSV
tables. Counts of people go through disclosure control; resource use (hours, bookings) and
public meetings' attendance describe no one and are published as they are."""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cowork.community.domain.disclosure import CONFIDENTIAL, K_DEFAULT, records, suppress

ROME = ZoneInfo("Europe/Rome")
# ASCII digits and the whole string: `\d` takes any script's digits (which `int` reads but
# no header can carry) and `$` lets a trailing newline through.
PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")
DATASETS = ("members", "members-status", "occupancy", "occupancy-hours", "vouchers", "meetings")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNKNOWN = "unknown"


def is_period(text: str) -> bool:
    return bool(PERIOD.fullmatch(text)) and 2000 <= int(text[:4]) <= 2100


def month_bounds(period: str) -> tuple[datetime, datetime]:
    """The month's first and next month's first instant, in Rome, as aware datetimes."""
    year, month = int(period[:4]), int(period[5:])
    start = datetime(year, month, 1, tzinfo=ROME)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=ROME)
    return start.astimezone(UTC), following.astimezone(UTC)


def previous_period(now: datetime) -> str:
    first = now.astimezone(ROME).date().replace(day=1)
    last_month = first - timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def next_period(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


@dataclass(frozen=True)
class Dataset:
    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]

    def csv_bytes(self) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return out.getvalue().encode()

    def sha256(self) -> str:
        return hashlib.sha256(self.csv_bytes()).hexdigest()


def _protected_rows(period: str, rows: Sequence[str], cols: Sequence[str],
                    counts: Mapping[tuple[str, str], int], k: int) -> list[tuple[Any, ...]]:
    published = suppress(rows, cols, counts, k=k)
    return [(period, r, c, v, CONFIDENTIAL if v is None else "")
            for r, c, v in records(published)]


def members_dataset(period: str, members: Iterable[Mapping[str, Any]], start: datetime,
                    k: int = K_DEFAULT) -> Dataset:
    """Members who joined in the month by residence municipality x age band."""
    joined = [m for m in members if m["joined_at"] >= start]
    counts = Counter((m["residence_istat"] or UNKNOWN, m["age_band"] or "n/a") for m in joined)
    rows = sorted({r for r, _ in counts})
    cols = sorted({c for _, c in counts})
    return Dataset("members", ("period", "residence_istat", "age_band", "members", "flag"),
                   tuple(_protected_rows(period, rows, cols, counts, k)))


def members_status_dataset(period: str, members: Iterable[Mapping[str, Any]], start: datetime,
                           k: int = K_DEFAULT) -> Dataset:
    """Members who joined in the month by the status they declared (with a voucher)."""
    counts = Counter((m["status"], "members") for m in members if m["joined_at"] >= start)
    rows = sorted({r for r, _ in counts})
    protected = _protected_rows(period, rows, ["members"], counts, k)
    return Dataset("members-status", ("period", "status", "measure", "members", "flag"),
                   tuple(protected))


def _open_hours(period: str, open_hours_per_weekday: int) -> int:
    year, month = int(period[:4]), int(period[5:])
    days = calendar.monthrange(year, month)[1]
    weekdays = sum(date(year, month, d).weekday() < 5 for d in range(1, days + 1))
    return weekdays * open_hours_per_weekday


def occupancy_dataset(period: str, bookings: Iterable[Mapping[str, Any]],
                      resources: Iterable[Mapping[str, Any]],
                      open_hours_per_weekday: int = 10) -> Dataset:
    """Booked hours against available hours (seats x the month's opening hours) by space and
    desk kind."""
    seats: dict[tuple[str, str], int] = defaultdict(int)
    for r in resources:
        seats[(str(r["space_id"]), r["kind"])] += r["seats"]
    hours: dict[tuple[str, str], float] = defaultdict(float)
    count: Counter[tuple[str, str]] = Counter()
    for b in bookings:
        key = (str(b["space_id"]), b["kind"])
        hours[key] += (b["ends_at"] - b["starts_at"]).total_seconds() / 3600
        count[key] += 1
    per_seat = _open_hours(period, open_hours_per_weekday)
    rows = []
    for key in sorted(set(seats) | set(hours)):
        available = seats.get(key, 0) * per_seat
        pct = round(100 * hours[key] / available, 1) if available else None
        rows.append((period, *key, count[key], round(hours[key], 2), available, pct))
    return Dataset("occupancy", ("period", "space_id", "desk_kind", "bookings", "booked_hours",
                                 "available_hours", "occupancy_pct"), tuple(rows))


def heatmap(bookings: Iterable[Mapping[str, Any]]) -> dict[tuple[int, int], float]:
    """Booked hours by (weekday 0=Monday, hour of day) in Rome, each booking's hours split
    across the hours it covers."""
    cells: dict[tuple[int, int], float] = defaultdict(float)
    for b in bookings:
        at = b["starts_at"].astimezone(ROME)
        end = b["ends_at"].astimezone(ROME)
        while at < end:
            hour_end = min(end, at.replace(minute=0, second=0, microsecond=0)
                           + timedelta(hours=1))
            cells[(at.weekday(), at.hour)] += (hour_end - at).total_seconds() / 3600
            at = hour_end
    return cells


def occupancy_hours_dataset(period: str, bookings: Iterable[Mapping[str, Any]]) -> Dataset:
    cells = heatmap(bookings)
    rows = tuple((period, WEEKDAYS[d], h, round(cells.get((d, h), 0.0), 2))
                 for d in range(7) for h in range(24))
    return Dataset("occupancy-hours", ("period", "weekday", "hour", "booked_hours"), rows)


def published_beneficiaries(frozen_csvs: Iterable[bytes]) -> dict[str, set[int]]:
    """Per programme, the beneficiaries counts that frozen vouchers CSVs published together
    with the amounts: what a reader can subtract another month's figures from."""
    out: dict[str, set[int]] = defaultdict(set)
    for body in frozen_csvs:
        for row in csv.DictReader(io.StringIO(body.decode())):
            if row["granted_cents"] and row["beneficiaries"]:
                out[row["programme_id"]].add(int(row["beneficiaries"]))
    return out


def vouchers_dataset(period: str, programmes: Iterable[Mapping[str, Any]],
                     vouchers: Iterable[Mapping[str, Any]], k: int = K_DEFAULT,
                     published: Mapping[str, set[int]] | None = None) -> Dataset:
    """Per programme, to the month's end: budget, granted and redeemed amounts, beneficiaries
    and how many opened a partita IVA while holding a voucher.

    Beneficiaries split into those who opened one and those who did not is a table of people
    (the difference of two published counts is a count too), protected as one. A hidden
    beneficiaries count hides the amounts (a fixed cap times the count would give them back),
    and so does a count 1..k-1 away from one published with amounts in another month
    (`published`): the amounts' difference would be those few people's grants."""
    names = {str(p["programme_id"]): p for p in programmes}
    by_programme: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for v in vouchers:
        by_programme[str(v["programme_id"])].append(v)
    keys = sorted(set(names) | set(by_programme))
    counts: Counter[tuple[str, str]] = Counter()
    for p in keys:
        holders = {v["member_id"] for v in by_programme[p]}
        opened = {v["member_id"] for v in by_programme[p]
                  if v["partita_iva_declared_at"] is not None}
        counts[(p, "opened")] = len(opened)
        counts[(p, "not_opened")] = len(holders) - len(opened)
    table = suppress(keys, ["opened", "not_opened"], counts, k=k)
    rows = []
    for p in keys:
        beneficiaries, opened = table.row_totals[p], table.cells[(p, "opened")]
        near = beneficiaries is not None and any(
            0 < abs(beneficiaries - other) < k for other in (published or {}).get(p, ()))
        hidden = beneficiaries is None or near
        granted = sum(v["amount_cents"] for v in by_programme[p])
        redeemed = sum(v["redeemed_cents"] for v in by_programme[p])
        programme = names.get(p)
        rows.append((period, p, programme["name"] if programme else "",
                     programme["budget_cents"] if programme else None,
                     None if hidden else granted, None if hidden else redeemed,
                     beneficiaries, opened,
                     CONFIDENTIAL if hidden or opened is None else ""))
    return Dataset("vouchers", ("period", "programme_id", "programme", "budget_cents",
                                "granted_cents", "redeemed_cents", "beneficiaries",
                                "opened_partita_iva", "flag"), tuple(rows))


def meetings_dataset(period: str, meetings: Iterable[Mapping[str, Any]], start: datetime
                     ) -> Dataset:
    rows = tuple((period, str(m["meeting_id"]), m["title"], m["starts_at"].isoformat(),
                  m["capacity"], m["registered"], m["attendance"], m["checked_in"])
                 for m in meetings if m["starts_at"] >= start)
    return Dataset("meetings", ("period", "meeting_id", "title", "start", "capacity",
                                "registered", "attendance", "checked_in"), rows)
