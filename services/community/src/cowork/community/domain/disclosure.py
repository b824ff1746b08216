"""Statistical disclosure control of the published tables: small cells hidden, and hidden so
that no total gives them back.

A table is counts of people by a row and a column dimension, published with its row totals,
column totals and grand total. Seen as an (R+1)x(C+1) grid whose last row and column are the
totals, every line (a row or a column of the grid) is one linear equation: its cells sum to its
total. Whoever reads the CSV knows every published entry, so a hidden entry is safe only if no
combination of those equations isolates it.

- Primary suppression: a cell counting 1..k-1 people is hidden (a zero is published: it
  describes nobody).
- Complementary suppression: a line with exactly one hidden entry gives it back by
  subtraction, so a second entry of that line is hidden too, preferring a cell of at least k
  (so the hidden cells of a line never sum to something that pins each down), else any
  non-zero cell, else the line's total.
- Audit: the line rule is necessary, not sufficient (two protected blocks joined by one cell
  leave that cell determined), so every hidden entry is then checked by linear algebra — is its
  unit vector in the span of the equations over the hidden entries? — and one more entry of its
  row is hidden until none is determined. Suppression only grows, so this ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

K_DEFAULT = 5
Entry = tuple[int, int]  # (row, column) in the grid; row R / column C are the totals


@dataclass(frozen=True)
class Published:
    """A table as published: `None` marks a hidden (suppressed) entry."""

    rows: tuple[str, ...]
    cols: tuple[str, ...]
    cells: dict[tuple[str, str], int | None]
    row_totals: dict[str, int | None]
    col_totals: dict[str, int | None]
    grand_total: int | None

    def suppressed_count(self) -> int:
        return sum(v is None for v in [*self.cells.values(), *self.row_totals.values(),
                                       *self.col_totals.values(), self.grand_total])


def _grid(rows: Sequence[str], cols: Sequence[str],
          counts: Mapping[tuple[str, str], int]) -> list[list[int]]:
    grid = [[int(counts.get((r, c), 0)) for c in cols] for r in rows]
    for line in grid:
        if any(v < 0 for v in line):
            raise ValueError("a count cannot be negative")
        line.append(sum(line))
    grid.append([sum(grid[i][j] for i in range(len(rows))) for j in range(len(cols) + 1)])
    return grid


def _lines(n_rows: int, n_cols: int) -> list[list[Entry]]:
    """Each equation's entries, the total last: the R+1 grid rows, then the C+1 grid columns."""
    rows = [[(i, j) for j in range(n_cols + 1)] for i in range(n_rows + 1)]
    cols = [[(i, j) for i in range(n_rows + 1)] for j in range(n_cols + 1)]
    return rows + cols


def determined(hidden: set[Entry], n_rows: int, n_cols: int) -> set[Entry]:
    """The hidden entries that the published entries and the totals' equations pin down."""
    if not hidden:
        return set()
    order = sorted(hidden)
    index = {e: n for n, e in enumerate(order)}
    equations = []
    for line in _lines(n_rows, n_cols):
        row = np.zeros(len(order))
        *cells, total = line
        for e in cells:
            if e in index:
                row[index[e]] = 1.0
        if total in index:
            row[index[total]] = -1.0
        if row.any():
            equations.append(row)
    if not equations:
        return set()
    matrix = np.array(equations)
    rank = np.linalg.matrix_rank(matrix)
    found = set()
    for e, n in index.items():
        unit = np.zeros(len(order))
        unit[n] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.add(e)
    return found


def _complement(line: Sequence[Entry], grid: list[list[int]], hidden: set[Entry],
                k: int) -> Entry:
    """Which further entry of a line to hide: the smallest cell ≥ k, else the smallest
    non-zero cell, else the line's total (its last entry)."""
    *cells, total = line
    open_cells = [e for e in cells if e not in hidden and grid[e[0]][e[1]] > 0]
    large = [e for e in open_cells if grid[e[0]][e[1]] >= k]
    for pool in (large, open_cells):
        if pool:
            return min(pool, key=lambda e: (grid[e[0]][e[1]], e))
    if total not in hidden:
        return total
    # Every other entry is hidden or zero: hide a zero, the only one left.
    return min(e for e in cells if e not in hidden)


def _apply_line_rule(grid: list[list[int]], hidden: set[Entry], k: int) -> None:
    lines = _lines(len(grid) - 1, len(grid[0]) - 1)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(e in hidden for e in line) == 1 and len(line) > 1:
                hidden.add(_complement(line, grid, hidden, k))
                changed = True


def _next_to(entry: Entry, grid: list[list[int]], hidden: set[Entry], k: int) -> Entry:
    """One more entry to hide for an exposed one: in its row, else its column, else anywhere."""
    i, j = entry
    row = [(i, jj) for jj in range(len(grid[0]))]
    col = [(ii, j) for ii in range(len(grid))]
    for line in (row, col):
        if any(e not in hidden for e in line):
            return _complement(line, grid, hidden, k)
    return min((e for e in np.ndindex(len(grid), len(grid[0])) if e not in hidden),
               key=lambda e: (grid[e[0]][e[1]] == 0, grid[e[0]][e[1]]))


def suppress(rows: Sequence[str], cols: Sequence[str], counts: Mapping[tuple[str, str], int],
             k: int = K_DEFAULT) -> Published:
    """The table protected for publication (see the module's docstring)."""
    if k < 1:
        raise ValueError("k must be at least 1")
    rows, cols = tuple(rows), tuple(cols)
    grid = _grid(rows, cols, counts)
    n_rows, n_cols = len(rows), len(cols)
    hidden = {(i, j) for i in range(n_rows + 1) for j in range(n_cols + 1)
              if 0 < grid[i][j] < k}
    while True:
        _apply_line_rule(grid, hidden, k)
        # A hidden zero that the equations give back describes nobody: only counts matter.
        exposed = {e for e in determined(hidden, n_rows, n_cols) if grid[e[0]][e[1]] > 0}
        if not exposed:
            break
        hidden.add(_next_to(min(exposed), grid, hidden, k))

    def value(i: int, j: int) -> int | None:
        return None if (i, j) in hidden else grid[i][j]

    return Published(
        rows=rows, cols=cols,
        cells={(r, c): value(i, j) for i, r in enumerate(rows) for j, c in enumerate(cols)},
        row_totals={r: value(i, n_cols) for i, r in enumerate(rows)},
        col_totals={c: value(n_rows, j) for j, c in enumerate(cols)},
        grand_total=value(n_rows, n_cols))


def tally(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Counts of (row, column) pairs, one per person."""
    counts: dict[tuple[str, str], int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


TOTAL = "total"  # the label of a total's row or column in the CSV
CONFIDENTIAL = "c"  # Eurostat's flag of a value withheld for confidentiality


def records(table: Published) -> list[tuple[str, str, int | None]]:
    """(row, column, value) for every cell, then the row totals, the column totals and the
    grand total, labelled TOTAL; `None` where hidden. The CSV writes these."""
    out: list[tuple[str, str, int | None]] = [
        (r, c, table.cells[(r, c)]) for r in table.rows for c in table.cols]
    out += [(r, TOTAL, table.row_totals[r]) for r in table.rows]
    out += [(TOTAL, c, table.col_totals[c]) for c in table.cols]
    out.append((TOTAL, TOTAL, table.grand_total))
    return out
