"""The width search's figure (select_width). A module of its own: select_width is a
checkpoint whose rerun also reruns the exports (docs/caching.md), so no other
figure's code should be behind it."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from lthpipe.lottery import TOL_MUTED, color
from lthpipe.plots.common import _figure, _legend_below, _save


def width_figure(records: list[dict], selection: dict) -> Figure:
    """Mean validation accuracy per width with its spread; each width's threshold under
    the selection rule (the best mean minus the tolerance, and minus the width's
    standard error under one_se); the widths that reach it (filled) and those that do
    not (open); under-trained widths crossed; the chosen width; and the caveats."""
    widths = [r["width"] for r in records]
    rows = {w["width"]: w for w in selection["widths"]}
    means = [rows[w]["val_acc"] for w in widths]
    best = rows[selection["best_width"]]["val_acc"]
    fig = _figure(6, 4.8)
    ax = fig.subplots()
    ax.errorbar(widths, means, yerr=[rows[w]["val_sd"] for w in widths], capsize=3, color=color("dense"),
                ls="-", label="mean ± std over units")
    margin = {w: selection["tolerance"] + (rows[w]["vs_best"]["se"] if selection["rule"] == "one_se" else 0.0)
              for w in widths}
    ax.plot(widths, [best - margin[w] for w in widths], "_", ms=14, mew=2, color=TOL_MUTED["sand"],
            label="threshold: best − tolerance" + (" − SE" if selection["rule"] == "one_se" else ""))
    good = [w for w in widths if rows[w]["qualifies"]]
    short = [w for w in widths if not rows[w]["qualifies"]]
    ax.plot(good, [rows[w]["val_acc"] for w in good], "o", color=color("dense"), label="good enough")
    ax.plot(short, [rows[w]["val_acc"] for w in short], "o", mfc="white", color=color("dense"),
            label="below its threshold")
    late = [w for w in widths if rows[w].get("undertrained")]
    if late:
        ax.plot(late, [rows[w]["val_acc"] for w in late], "x", ms=11, color=TOL_MUTED["wine"],
                label="under-trained (best in last 20%)")
    ax.axvline(selection["width"], color=TOL_MUTED["rose"], ls="--", label=f"chosen width {selection['width']}")
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.set_xlabel("hidden width (units per layer, log scale)")
    ax.set_ylabel("validation accuracy at early stopping")
    flags = _selection_flags(selection)
    ax.set_title("\n".join([f"{records[0]['dataset']}: width search ({selection['rule']} rule)", *flags]), fontsize=10)
    ax.grid(True, alpha=0.3)
    _legend_below(fig, [ax])
    return fig


def _selection_flags(selection: dict) -> list[str]:
    """The short form of selection notes that a figure can carry."""
    smaller = selection["next_smaller"]
    flags = []
    if selection["at_edge"]:
        flags.append("chosen = largest width searched: widen the search")
    if smaller["premise"] == "not met":
        flags.append(f"not clearly better than width {smaller['width']}: premise not met")
    return flags


def width_plot(records: list[dict], selection: dict, path: Path) -> None:
    _save(width_figure(records, selection), path)
