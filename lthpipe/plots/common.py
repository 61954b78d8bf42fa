"""What every figure shares: the looks of methods (LINE_STYLES, _style), of chance
levels and of the fraction-retained axis, the figure and legend layout, the empty
panel, and a PNG writer whose bytes repeat between identical runs. Every figure
module imports this one, so editing it redraws every figure; what a single module
uses lives in that module. The underscore names are internal to the figure modules
(and lthpipe.suite_plots, lthpipe.replication, which draw in the same looks)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from lthpipe.artifacts import write_bytes
from lthpipe.lottery import PROCEDURES, color, label, marker

DPI = 120
LINE_STYLES = dict(zip(PROCEDURES, ("-", "--")))  # procedure -> line style
FRACTION_LABEL = "fraction of weights retained (log scale)"
# Grey and line of a chance level, wherever one is drawn.
CHANCE_STYLE = {"color": "#777777", "linestyle": ":", "linewidth": 1.2}


def _save(fig: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    # Fixed metadata keeps the bytes identical between identical runs.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    write_bytes(path, buffer.getvalue())


def _figure(width: float, height: float) -> Figure:
    # Constrained layout makes room for suptitles, colour bars and legends outside the axes.
    return Figure(figsize=(width, height), layout="constrained")


def _title(summary: dict, what: str) -> str:
    return f"{summary['dataset']}: {what}"


def _log_ticks(axis: XAxis | YAxis) -> None:
    """Plain-number ticks (0.05, not 5×10⁻²) on a log axis whose data are drawn:
    1-2-5 across a wide range; every digit over a narrow one (the first levels of
    iterative pruning span less than a factor of two)."""
    low, high = sorted(axis.get_view_interval())
    subs = (1.0, 2.0, 5.0) if high / low > 3 else tuple(float(s) for s in range(1, 10))
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _fraction_axis(ax: Axes) -> None:
    """The fraction retained as a log x axis, denser on the left. Call after drawing."""
    ax.set_xscale("log")
    _log_ticks(ax.xaxis)
    ax.xaxis.set_inverted(True)
    ax.set_xlabel(FRACTION_LABEL)
    ax.grid(True, which="major", alpha=0.3)


def _legend_below(fig: Figure, axes: Iterable[Axes], ncols: int = 2) -> None:
    """One legend under all panels, each label once, in drawing order."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, text in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(text, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncols=ncols, fontsize=8,
               frameon=False)


def _note(ax: Axes, text: str) -> None:
    """An empty panel that says why it is empty."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color="#444444", transform=ax.transAxes)
    # Off rather than emptied: the ticks of axes shared with this one stay.
    ax.set_axis_off()


def _nothing_to_draw(title: str, reason: str) -> Figure:
    """A small figure in place of one whose data this run did not produce, so the
    workflow's outputs exist and the report says why."""
    fig = _figure(7, 2)
    fig.suptitle(title, fontsize=10)
    _note(fig.subplots(), reason)
    return fig


def _retained(summary: dict, fraction: float) -> float:
    """The measured fraction of weights the magnitude masks of a configured fraction
    keep (the curve of pruning without retraining carries it), so that every figure
    puts a fraction at the same place as the accuracy curves do."""
    points = summary["methods"].get("oneshot", {}).get("pruned", {}).get("points", [])
    return next((p["retained"] for p in points if p["fraction"] == fraction), fraction)


def _fraction_title(summary: dict, fraction: float) -> str:
    return f"{_retained(summary, fraction):.2g} of weights retained"


def _style(procedure: str, method: str) -> dict[str, str]:
    """A curve's look: the registry's colour, marker and words; iterative pruning dashed."""
    words = label(method) if procedure == "oneshot" else f"iterative: {label(method)}"
    return {"color": color(method), "marker": marker(method), "linestyle": LINE_STYLES[procedure], "label": words}
