"""The instability analysis' figure (summarize_instability): the error barrier
between copies trained on different data orders, against the rewind point."""

from __future__ import annotations

from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from lthpipe.lottery import color, marker
from lthpipe.plots.common import CHANCE_STYLE, _figure, _legend_below, _save, _title

INSTABILITY_LOOKS = {  # kind of network -> words and look
    "dense": {"label": "dense network", "color": color("dense"), "marker": "o"},
    "ticket": {"label": "magnitude ticket", "color": color("rewind"), "marker": marker("rewind")},
}


def _rewind_axis(ax: Axes, summary: dict) -> None:
    """The rewind point k on a symmetric-log axis, so that k = 0 (θ0) is on it. Call after drawing."""
    ats = sorted({p["at"] for p in summary["points"]})
    positive = [a for a in ats if a > 0]
    ax.set_xscale("symlog", linthresh=min(positive) if positive else 1, linscale=0.5)
    ax.set_xticks(ats, [f"{a:g}" for a in ats])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(f"rewind point k ({summary['unit']}s of dense training)")
    ax.grid(True, alpha=0.3)


def instability_figure(summary: dict) -> Figure:
    """Frankle et al. (2020)'s instability analysis: the error barrier between two copies
    trained from θ_k on different minibatch orders, against k (left), beside the copies'
    test accuracy at early stopping (right), for the dense network and its ticket."""
    fig = _figure(11, 4.8)
    barrier_ax, acc_ax = fig.subplots(1, 2)
    for kind, look in INSTABILITY_LOOKS.items():
        points = [p for p in summary["points"] if p["kind"] == kind]
        if not points:
            continue
        ats = [p["at"] for p in points]
        words = look["label"] if kind == "dense" else f"{look['label']} ({points[0]['retained']:.2g} retained)"
        barrier_ax.plot(ats, [100 * p["barrier"] for p in points], color=look["color"], marker=look["marker"],
                        label=words)
        for p in points:
            barrier_ax.plot([p["at"]] * len(p["barriers"]), [100 * b for b in p["barriers"]], ls="", marker=".",
                            color=look["color"], alpha=0.5)
        acc_ax.errorbar(ats, [p["test_acc"] for p in points], yerr=[p["test_acc_sd"] for p in points], capsize=3,
                        color=look["color"], marker=look["marker"], label=words)
    barrier_ax.axhline(0, **CHANCE_STYLE)
    barrier_ax.set_ylabel("error barrier (percentage points of test error)")
    barrier_ax.set_title("instability: max error on the line between the copies\nminus their mean (line: mean; dots: "
                         "networks)", fontsize=10)
    acc_ax.axhline(summary["dense_test_acc"], label="dense network, trained once (mean)", **CHANCE_STYLE)
    acc_ax.set_ylabel("test accuracy at early stopping (copies: mean ± sd)")
    acc_ax.set_title("accuracy when training from θ_k", fontsize=10)
    for ax in (barrier_ax, acc_ax):
        _rewind_axis(ax, summary)
    fig.suptitle(_title(summary, f"is training from θ_k stable to the data order? (hidden {summary['hidden']})"))
    _legend_below(fig, [barrier_ax, acc_ax])
    return fig


def instability_plot(summary: dict, path: Path) -> None:
    _save(instability_figure(summary), path)
