"""What magnitude pruning kept, from the one-shot masks' descriptions in a dataset's
summary: the inputs' first-layer connections, the hidden units' incoming weights,
and how well masks agree across seeds and with the at-initialisation methods'."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from lthpipe.lottery import CURVE_ORDER, color
from lthpipe.plots.common import (
    CHANCE_STYLE, _figure, _fraction_axis, _fraction_title, _legend_below, _note, _nothing_to_draw, _retained,
    _save, _style, _title,
)

# Sequential colours for ordered quantities (fractions); the top of viridis is too pale on white.
FRACTION_CMAP = matplotlib.colormaps["viridis"]
FRACTION_CMAP_TOP = 0.85

T = TypeVar("T")


def _chance_handle(text: str) -> Line2D:
    """A legend entry for chance levels, which are drawn unlabelled in their curve's colour."""
    return Line2D([], [], label=text, **CHANCE_STYLE)


def _spread(items: Sequence[T], k: int) -> list[T]:
    """At most k of the items, evenly spaced through the sequence, both ends kept."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def _masks(summary: dict) -> list[dict]:
    """The one-shot masks' descriptions, densest first."""
    return sorted(summary.get("masks", []), key=lambda m: -m["fraction"])


def _fraction_colors(fractions: Sequence[float]) -> dict[float, tuple]:
    """One colour per fraction, darker when sparser, on a log scale over these fractions."""
    norm = LogNorm(min(fractions), max(fractions)) if len(set(fractions)) > 1 else None
    return {f: FRACTION_CMAP(FRACTION_CMAP_TOP * (float(norm(f)) if norm else 1.0)) for f in fractions}


# --- what pruning removed ------------------------------------------------------------


def _input_images(fig: Figure, summary: dict, masks: list[dict], shape: Sequence[int]) -> None:
    """Per mask, the share of each pixel's first-layer connections kept, as an image."""
    ncols = min(len(masks), 5)
    axes = fig.subplots(-(-len(masks) // ncols), ncols, squeeze=False).ravel()
    for ax, mask in zip(axes, masks):
        image = ax.imshow(np.reshape(mask["input_survival"], shape), cmap="viridis", vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_title(_fraction_title(summary, mask["fraction"]), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes[len(masks):]:
        ax.set_axis_off()
    bar = fig.colorbar(image, ax=axes.tolist())
    bar.set_label("share of the pixel's connections kept", fontsize=9)


def _input_bars(fig: Figure, summary: dict, masks: list[dict]) -> None:
    """Small multiples, one per fraction: the share of each input feature's
    first-layer connections kept, against the first layer's mean (its density)."""
    n_features = len(masks[0]["input_survival"])
    names = (summary.get("data") or {}).get("feature_names") or [f"input {i}" for i in range(n_features)]
    colors = _fraction_colors([m["fraction"] for m in masks])
    axes = fig.subplots(1, len(masks), sharex=True, sharey=True, squeeze=False)[0]
    rows = np.arange(n_features)
    for ax, mask in zip(axes, masks):
        ax.barh(rows, mask["input_survival"], color=colors[mask["fraction"]])
        ax.axvline(mean(mask["input_survival"]), label="first-layer mean", **CHANCE_STYLE)
        ax.set_title(_fraction_title(summary, mask["fraction"]), fontsize=9)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of connections kept", fontsize=9)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(rows, names, fontsize=8 if len(names) <= 15 else 7)
    axes[0].invert_yaxis()  # the dataset's first feature on top
    _legend_below(fig, axes[:1])


def removed_figure(summary: dict) -> Figure:
    """What magnitude pruning removed from the inputs' connections, per fraction retained."""
    masks = [m for m in _masks(summary) if m["fraction"] < 1]
    title = _title(summary, "which inputs keep first-layer connections\n(magnitude masks, mean over networks)")
    if not masks:
        return _nothing_to_draw(title, "no one-shot pruning in this run: no masks to show")
    shape = (summary.get("data") or {}).get("image_shape")
    if shape:
        ncols = min(len(masks), 5)
        # Wide enough for the title and the colour bar's label with only a few fractions.
        fig = _figure(max(7.0, 1.9 * ncols + 1.4), 2.4 * -(-len(masks) // ncols) + 0.8)
        _input_images(fig, summary, masks, shape)
    else:
        masks = _spread(masks, 4)
        n_features = len(masks[0]["input_survival"])
        fig = _figure(max(7.0, 2.3 * len(masks) + 1.4), max(3.5, 0.22 * n_features + 2.0))
        _input_bars(fig, summary, masks)
    fig.suptitle(title, fontsize=10)
    return fig


def removed_plot(summary: dict, path: Path) -> None:
    _save(removed_figure(summary), path)


# --- surviving weights per hidden unit --------------------------------------------


def units_figure(summary: dict) -> Figure:
    """Per hidden layer (columns): units alive against the fraction retained (top),
    and each unit's kept incoming weights, sorted, at a few fractions (bottom)."""
    masks = _masks(summary)
    title = _title(summary, "surviving weights per hidden unit\n(magnitude masks, mean over networks)")
    if not masks:
        return _nothing_to_draw(title, "no one-shot pruning in this run: no masks to show")
    layers = len(masks[0]["hidden_units"])
    fig = _figure(max(6.0, 4.2 * layers + 0.4), 7.5)
    axes = fig.subplots(2, layers, squeeze=False)
    shown = _spread(masks, 4)
    colors = _fraction_colors([m["fraction"] for m in masks])
    fan_in = len(masks[0]["input_survival"])
    for layer, (alive_ax, rank_ax) in enumerate(zip(axes[0], axes[1])):
        width = len(masks[0]["hidden_units"][layer]["incoming"])
        alive_ax.plot([_retained(summary, m["fraction"]) for m in masks],
                      [m["hidden_units"][layer]["alive"] for m in masks], marker="o", color=color("dense"),
                      label="units with kept incoming and outgoing weights")
        alive_ax.axhline(width, label="all units", **CHANCE_STYLE)
        alive_ax.set_ylim(0, width * 1.08)
        _fraction_axis(alive_ax)
        alive_ax.set_ylabel("units alive")
        alive_ax.set_title(f"hidden layer {layer + 1}: {width} units", fontsize=10)
        for mask in shown:
            incoming = sorted(mask["hidden_units"][layer]["incoming"], reverse=True)
            rank_ax.plot(range(1, width + 1), incoming, color=colors[mask["fraction"]],
                         marker="o" if width <= 40 else "", ms=3, label=_fraction_title(summary, mask["fraction"]))
        rank_ax.set_ylim(0, fan_in * 1.05)
        rank_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        rank_ax.set_xlabel("unit rank (most kept incoming weights first)")
        rank_ax.set_ylabel(f"kept incoming weights per unit (of {fan_in})")
        rank_ax.grid(True, alpha=0.3)
        fan_in = width
    for ax in axes[:, 0]:
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    return fig


def units_plot(summary: dict, path: Path) -> None:
    _save(units_figure(summary), path)


# --- stability across initialisations ---------------------------------------------


def _draw_seed_overlap(ax: Axes, summary: dict, masks: list[dict]) -> None:
    compared = [m for m in masks if m["seed_overlap"] is not None]
    if not compared:
        _note(ax, "one network per data split:\nno two seeds to compare")
        return
    x = [_retained(summary, m["fraction"]) for m in compared]
    # In the colour of the rewound tickets, whose masks these are.
    ax.plot(x, [m["seed_overlap"]["observed"]["overall"] for m in compared], marker="o", color=color("rewind"),
            label=f"magnitude masks, seed vs seed (pairs: {compared[-1]['seed_overlap']['pairs']})")
    ax.plot(x, [m["seed_overlap"]["chance"]["overall"] for m in compared], color=color("rewind"), ls=":")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Jaccard overlap of kept weights")
    ax.legend(handles=[*ax.get_lines()[:1], _chance_handle("chance: random masks, same layer counts")],
              fontsize=7, loc="upper right")


def _draw_at_init_overlap(ax: Axes, summary: dict, masks: list[dict]) -> None:
    methods = [m for m in CURVE_ORDER if any(m in mask["at_init_overlap"] for mask in masks)]
    if not methods:
        _note(ax, "no at-initialisation methods\nin this run")
        return
    for method in methods:
        compared = [m for m in masks if method in m["at_init_overlap"]]
        x = [_retained(summary, m["fraction"]) for m in compared]
        ax.plot(x, [m["at_init_overlap"][method]["observed"]["overall"] for m in compared],
                **_style("oneshot", method))
        ax.plot(x, [m["at_init_overlap"][method]["chance"]["overall"] for m in compared], color=color(method),
                ls=":")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("Jaccard overlap with the magnitude mask")
    handles = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    ax.legend(handles=[*handles, _chance_handle("chance: random masks, same layer counts")], fontsize=7,
              loc="upper right")


def _draw_input_agreement(ax: Axes, summary: dict, masks: list[dict]) -> None:
    compared = [m for m in masks if m["input_agreement"] is not None]
    if not compared:
        _note(ax, "needs two or more seeds on a split\nand some inputs pruned")
        return
    ax.plot([_retained(summary, m["fraction"]) for m in compared], [m["input_agreement"] for m in compared],
            marker="o", color=color("rewind"), label="magnitude masks, seed vs seed")
    ax.axhline(0, label="chance", **CHANCE_STYLE)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("correlation of kept connections per input")
    ax.legend(fontsize=7, loc="lower left")


def stability_figure(summary: dict) -> Figure:
    """Do masks found from different initialisations agree? Three measures against
    their chance levels: overlap between seeds, overlap of at-init masks with the
    magnitude masks, and the seeds' agreement on which inputs keep connections."""
    masks = _masks(summary)
    title = _title(summary, "ticket stability across initialisations")
    if not masks:
        return _nothing_to_draw(title, "no one-shot pruning in this run: no masks to compare")
    fig = _figure(13, 4.6)
    axes = fig.subplots(1, 3, sharex=True)
    seeds_ax, at_init_ax, inputs_ax = axes
    _draw_seed_overlap(seeds_ax, summary, masks)
    seeds_ax.set_title("different seeds' masks", fontsize=10)
    _draw_at_init_overlap(at_init_ax, summary, masks)
    at_init_ax.set_title("at-init masks vs magnitude mask (same seed)", fontsize=10)
    _draw_input_agreement(inputs_ax, summary, masks)
    inputs_ax.set_title("which inputs keep connections (Pearson r)", fontsize=10)
    for ax in (ax for ax in axes if ax.axison):  # after all drawing: the axes share one range
        _fraction_axis(ax)
    fig.suptitle(title)
    return fig


def stability_plot(summary: dict, path: Path) -> None:
    _save(stability_figure(summary), path)
