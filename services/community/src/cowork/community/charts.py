"""The community service's charts: plain functions from numbers to PNG bytes.

Drawn on matplotlib's object API with the Agg canvas (no pyplot: no global figure state, so
charts can be drawn from several threads at once, and no display is needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

# matplotlib is imported when a chart is drawn, not when the service starts: it takes seconds
# to import, and it wants a writable config folder (the image runs read-only, /tmp mounted).
if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def new_figure(**options: object) -> Figure:
    """A figure of its own on an Agg canvas: nothing global, so one per thread is safe."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(**options)  # type: ignore[arg-type]
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def heatmap(values: Sequence[Sequence[float]], rows: Sequence[str], columns: Sequence[str], *,
            title: str, colour_label: str) -> bytes:
    """A rows x columns heatmap with each cell's value written in it (a reader of a printed
    report cannot hover), as PNG bytes."""
    figure = new_figure(figsize=(max(4.0, 1.1 * len(columns) + 2), max(3.0, 0.6 * len(rows) + 1.5)))
    axes = figure.add_subplot()
    image = axes.imshow(values, cmap="Blues", aspect="auto", vmin=0)
    axes.set_xticks(range(len(columns)), labels=list(columns))
    axes.set_yticks(range(len(rows)), labels=list(rows))
    axes.set_title(title)
    peak = max((v for row in values for v in row), default=0) or 1
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            # Dark text on light cells, white on dark ones: readable either way.
            colour = "white" if value > peak * 0.6 else "black"
            axes.text(c, r, f"{value:g}", ha="center", va="center", color=colour, fontsize=9)
    figure.colorbar(image, ax=axes, label=colour_label)
    return _png(figure)


def demand_heatmap(by_slot: dict[tuple[str, str], int], weekdays: Sequence[str],
                   time_bands: Sequence[str], *, title: str = "Demand by weekday and time band"
                   ) -> bytes:
    """The expressions of interest as a weekday x time band heatmap of respondents."""
    values = [[by_slot.get((day, band), 0) for band in time_bands] for day in weekdays]
    return heatmap(values, rows=weekdays, columns=time_bands, title=title,
                   colour_label="respondents")
