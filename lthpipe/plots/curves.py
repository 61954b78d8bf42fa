"""Accuracy and training against the fraction retained, from a dataset's summary:
the accuracy curves of one dataset (aggregate) and of all side by side (summarize),
the early-stopping iteration, and the training histories."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lthpipe.lottery import CURVE_ORDER, METHODS, PROCEDURES, color, label
from lthpipe.plots.common import (
    _figure, _fraction_axis, _fraction_title, _legend_below, _nothing_to_draw, _save, _style, _title,
)

CURVES_TITLE = "test accuracy against fraction retained\n(lines: mean over networks; bands: worst to best network)"


def _curves(summary: dict, methods: Sequence[str] = CURVE_ORDER) -> Iterator[tuple[str, str, list[dict]]]:
    """(procedure, method, points sorted by fraction retained) for every curve present."""
    for procedure in PROCEDURES:
        by_method = summary["methods"].get(procedure, {})
        for method in (m for m in methods if m in by_method):
            yield procedure, method, sorted(by_method[method]["points"], key=lambda p: p["retained"])


# --- accuracy against fraction retained --------------------------------------------


def draw_curves(ax: Axes, summary: dict) -> None:
    """Test accuracy against the fraction retained: one-shot methods as solid lines,
    levels of iterative pruning dashed, each method in its own colour and marker,
    bands from the worst to the best network."""
    dense, spread = summary["dense_test_acc"], summary["dense_test_std"]
    ax.axhline(dense, color=color("dense"), lw=1, label=f"{label('dense')} (grey band: ± std)")
    ax.axhspan(dense - spread, dense + spread, color=color("dense"), alpha=0.08)
    for procedure, method, points in _curves(summary):
        x = [p["retained"] for p in points]
        ax.plot(x, [p["mean"] for p in points], ms=4, **_style(procedure, method))
        ax.fill_between(x, [p["min"] for p in points], [p["max"] for p in points], color=color(method), alpha=0.12)
    _fraction_axis(ax)
    ax.set_ylabel("test accuracy at early stopping")
    ax.set_title(f"{summary['dataset']} (hidden {summary['hidden']})")


def curve_figure(summary: dict) -> Figure:
    fig = _figure(7, 6)
    ax = fig.subplots()
    draw_curves(ax, summary)
    fig.suptitle(CURVES_TITLE)
    _legend_below(fig, [ax])
    return fig


def curve_plot(summary: dict, path: Path) -> None:
    _save(curve_figure(summary), path)


def summary_figure(summaries: list[dict]) -> Figure:
    fig = _figure(4.8 * len(summaries), 6)
    axes = fig.subplots(1, len(summaries), squeeze=False)[0]
    for ax, summary in zip(axes, summaries):
        draw_curves(ax, summary)
    fig.suptitle(CURVES_TITLE)
    _legend_below(fig, axes, ncols=min(3, len(summaries) + 1))
    return fig


def summary_plot(summaries: list[dict], path: Path) -> None:
    _save(summary_figure(summaries), path)


# --- early stopping ----------------------------------------------------------------


def early_stop_figure(summary: dict) -> Figure:
    """The early-stopping iteration against the fraction retained (Frankle & Carbin,
    Figures 1 and 4): winning tickets learn faster than the dense network."""
    fig = _figure(7, 6)
    ax = fig.subplots()
    # Only retrained methods stop early; pruning without retraining is not trained.
    for procedure, method, points in _curves(summary, tuple(METHODS)):
        ax.plot([p["retained"] for p in points], [p["best_iteration"] for p in points], ms=4,
                **_style(procedure, method))
    _fraction_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("early-stopping iteration (minibatch steps, mean over networks)")
    fig.suptitle(_title(summary, "when training stops early"))
    _legend_below(fig, [ax])
    return fig


def early_stop_plot(summary: dict, path: Path) -> None:
    _save(early_stop_figure(summary), path)


# --- how tickets train -------------------------------------------------------------


def training_figure(summary: dict) -> Figure:
    """Validation accuracy (top) and training loss (bottom) per epoch, one column per
    fraction: the dense network and every retrained method, mean over networks."""
    training = summary.get("training")
    title = _title(summary, "how the networks train (mean over networks)")
    if not training:
        return _nothing_to_draw(title, "this summary has no training histories")
    columns = sorted(training["fractions"].items(), key=lambda kv: -float(kv[0])) or [(None, {})]
    fig = _figure(3.4 * len(columns) + 0.6, 7)
    axes = fig.subplots(2, len(columns), sharex=True, sharey="row", squeeze=False)
    for (fraction, by_method), acc_ax, loss_ax in zip(columns, axes[0], axes[1]):
        curves = [({"color": color("dense"), "label": label("dense")}, training["dense"])]
        curves += [(_style("oneshot", m), by_method[m]) for m in CURVE_ORDER if m in by_method]
        for style, history in curves:
            acc_ax.plot(history["epoch"], history["val_acc"], ms=3, **style)
            loss_ax.plot(history["epoch"], history["train_loss"], ms=3, **style)
        acc_ax.set_title(_fraction_title(summary, float(fraction)) if by_method else "dense network only", fontsize=10)
        loss_ax.set_xlabel("epoch")
        loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (acc_ax, loss_ax):
            ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy")
    axes[1][0].set_ylabel("training loss (cross-entropy)")
    fig.suptitle(title)
    _legend_below(fig, axes.ravel())
    return fig


def training_plot(summary: dict, path: Path) -> None:
    _save(training_figure(summary), path)
