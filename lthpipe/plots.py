"""Figures, each drawn from records alone (a dataset's ``summary.json``, the width
search's records, the inference benchmark's rows) and written as one PNG.

Every figure has a builder ``name_figure(...) -> Figure`` (tests inspect what it
drew) and a writer ``name_plot(..., path)``. Methods keep the registry's colour,
marker and words (lthpipe.lottery) in every figure; one-shot pruning is drawn
solid and iterative pruning dashed; the fraction of weights retained is a log
axis with pruning proceeding to the right, as in Frankle & Carbin's figures.
Free of torch and of pyplot's global state: figures are plain ``Figure`` objects.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from statistics import mean
from typing import Any, TypeVar

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import XAxis, YAxis
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from lthpipe.artifacts import write_bytes
from lthpipe.lottery import CURVE_ORDER, METHODS, PROCEDURES, TOL_MUTED, color, label, marker

DPI = 120
LINE_STYLES = dict(zip(PROCEDURES, ("-", "--")))  # procedure -> line style
FRACTION_LABEL = "fraction of weights retained (log scale)"
CURVES_TITLE = "test accuracy against fraction retained\n(lines: mean over networks; bands: worst to best network)"
# Sequential colours for ordered quantities (fractions); the top of viridis is too pale on white.
FRACTION_CMAP = matplotlib.colormaps["viridis"]
FRACTION_CMAP_TOP = 0.85
# Grey and line of a chance level, wherever one is drawn.
CHANCE_STYLE = {"color": "#777777", "linestyle": ":", "linewidth": 1.2}
# Paul Tol's "muted" in his recommended order (neighbours contrast most), then his pale grey.
CLASS_COLORS = tuple(TOL_MUTED[c] for c in ("rose", "indigo", "sand", "green", "cyan", "wine", "teal", "olive",
                                             "purple")) + ("#DDDDDD",)
CLASS_MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "p")
# The forms of lthpipe.inference.FORMS, in words and looks (a test checks the names
# agree; that module imports torch, which the reporting jobs do without).
FORM_STYLES: dict[str, dict[str, Any]] = {
    # Hollow and on top: the dense network's size and speed equal the masked one's.
    "dense": {"label": "dense network, unpruned (torch)", "color": color("dense"), "marker": "o", "ls": ":",
              "mfc": "none", "zorder": 3},
    "masked": {"label": "masked: full size, zeros multiplied (torch)", "color": TOL_MUTED["olive"], "marker": "s"},
    "compact_torch": {"label": "compact: dead units removed (torch)", "color": TOL_MUTED["indigo"], "marker": "^"},
    "compact_onnx": {"label": "compact: dead units removed (ONNX Runtime)", "color": TOL_MUTED["cyan"],
                     "marker": "v", "ls": "--"},
    "csr_torch": {"label": "sparse CSR (torch)", "color": TOL_MUTED["rose"], "marker": "D"},
    "csr_scipy": {"label": "sparse CSR (SciPy, one thread)", "color": TOL_MUTED["green"], "marker": "P", "ls": "--"},
}

T = TypeVar("T")


# --- shared pieces ---------------------------------------------------------------


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


def _chance_handle(text: str) -> Line2D:
    """A legend entry for chance levels, which are drawn unlabelled in their curve's colour."""
    return Line2D([], [], label=text, **CHANCE_STYLE)


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


def _spread(items: Sequence[T], k: int) -> list[T]:
    """At most k of the items, evenly spaced through the sequence, both ends kept."""
    if len(items) <= k:
        return list(items)
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def _masks(summary: dict) -> list[dict]:
    """The one-shot masks' descriptions, densest first."""
    return sorted(summary.get("masks", []), key=lambda m: -m["fraction"])


def _retained(summary: dict, fraction: float) -> float:
    """The measured fraction of weights the magnitude masks of a configured fraction
    keep (the curve of pruning without retraining carries it), so that every figure
    puts a fraction at the same place as the accuracy curves do."""
    points = summary["methods"].get("oneshot", {}).get("pruned", {}).get("points", [])
    return next((p["retained"] for p in points if p["fraction"] == fraction), fraction)


def _fraction_title(summary: dict, fraction: float) -> str:
    return f"{_retained(summary, fraction):.2g} of weights retained"


def _fraction_colors(fractions: Sequence[float]) -> dict[float, tuple]:
    """One colour per fraction, darker when sparser, on a log scale over these fractions."""
    norm = LogNorm(min(fractions), max(fractions)) if len(set(fractions)) > 1 else None
    return {f: FRACTION_CMAP(FRACTION_CMAP_TOP * (float(norm(f)) if norm else 1.0)) for f in fractions}


def _style(procedure: str, method: str) -> dict[str, str]:
    """A curve's look: the registry's colour, marker and words; iterative pruning dashed."""
    words = label(method) if procedure == "oneshot" else f"iterative: {label(method)}"
    return {"color": color(method), "marker": marker(method), "linestyle": LINE_STYLES[procedure], "label": words}


def _curves(summary: dict, methods: Sequence[str] = CURVE_ORDER) -> Iterator[tuple[str, str, list[dict]]]:
    """(procedure, method, points sorted by fraction retained) for every curve present."""
    for procedure in PROCEDURES:
        by_method = summary["methods"].get(procedure, {})
        for method in (m for m in methods if m in by_method):
            yield procedure, method, sorted(by_method[method]["points"], key=lambda p: p["retained"])


# --- width search ------------------------------------------------------------------


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


# --- decision regions --------------------------------------------------------------


def decision_regions_figure(
    panels: list[tuple[str, np.ndarray]], extent: tuple[float, float, float, float], axis_labels: Sequence[str],
    points: np.ndarray, labels: np.ndarray, n_classes: int, title: str,
) -> Figure:
    """Each network's predicted class over a grid (G, G) of the plane, rows along
    the second axis, with the test points (n, 2) in their true class on top."""
    # Beyond the colour-blind-safe palette (abalone's 21 ring counts), an ordered
    # colormap: neighbouring classes get neighbouring colours, which suits ordinal labels.
    colors = (CLASS_COLORS[:n_classes] if n_classes <= len(CLASS_COLORS)
              else [matplotlib.colormaps["viridis"](k / (n_classes - 1)) for k in range(n_classes)])
    cmap = ListedColormap(colors)
    norm = BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = _figure(3.8 * len(panels), 4.6)
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True, squeeze=False)[0]
    for ax, (name, grid) in zip(axes, panels):
        ax.imshow(grid, extent=extent, origin="lower", aspect="auto", cmap=cmap, norm=norm, alpha=0.4,
                  interpolation="nearest")
        for k in range(n_classes):
            chosen = labels == k
            ax.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colors[k],
                       marker=CLASS_MARKERS[k % len(CLASS_MARKERS)],
                       edgecolors="black", linewidths=0.4, label=f"class {k}")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(axis_labels[0])
    axes[0].set_ylabel(axis_labels[1])
    fig.suptitle(f"{title}\n(background: predicted class; points: test set in their true class)", fontsize=10)
    _legend_below(fig, axes[:1], ncols=min(n_classes, 10))
    return fig


def decision_regions_plot(
    panels: list[tuple[str, np.ndarray]], extent: tuple[float, float, float, float], axis_labels: Sequence[str],
    points: np.ndarray, labels: np.ndarray, n_classes: int, title: str, path: Path,
) -> None:
    _save(decision_regions_figure(panels, extent, axis_labels, points, labels, n_classes, title), path)


# --- inference benchmark -----------------------------------------------------------


# The forms of a method timed beside the main one (inference.also): neuron pruning's
# networks are plain smaller dense networks, so their compacted forms are what counts.
BESIDE_FORMS = {"compact_torch": "torch", "compact_onnx": "ONNX Runtime"}  # form -> runtime, in words


def _draw_forms(ax: Axes, rows: list[dict], value: str, errors: bool) -> None:
    """One line per form of `value` against the fraction retained: every form of the
    first method's networks, the compacted forms of any other method's in its colour."""
    methods = list(dict.fromkeys(r.get("method") for r in rows))
    for method in methods:
        for form, style in FORM_STYLES.items():
            mine = sorted((r for r in rows if r["form"] == form and r.get("method") == method), key=lambda r: r["retained"])
            if not mine or (method != methods[0] and form not in BESIDE_FORMS):
                continue
            if method != methods[0]:
                style = {**style, "color": color(method), "label": f"{method} network, compacted ({BESIDE_FORMS[form]})"}
            y = np.array([r[value] for r in mine])
            spread = np.array([[v - r[f"{value}_q1"], r[f"{value}_q3"] - v] for v, r in zip(y, mine)]).T if errors else None
            ax.errorbar([r["retained"] for r in mine], y, yerr=spread, ms=4, capsize=2, **style)


def inference_figure(rows: list[dict]) -> Figure:
    """Size on disk, and batch-1 latency per thread count, of each form of a pruned
    network against the fraction retained."""
    if not rows:
        raise ValueError("no benchmark rows to plot")
    threads = sorted({r["threads"] for r in rows})
    fig = _figure(4.6 * (1 + len(threads)), 5.2)
    axes = fig.subplots(1, 1 + len(threads), squeeze=False)[0]
    # Size does not depend on the thread count: one row per form and fraction is enough.
    sized = [{**r, "kib": r["bytes"] / 1024} for r in rows if r["threads"] == threads[0]]
    _draw_forms(axes[0], sized, "kib", errors=False)
    axes[0].set_ylabel("size on disk (KiB, log scale)")
    axes[0].set_title("model file size", fontsize=10)
    for ax in axes[2:]:
        ax.sharey(axes[1])  # thread counts compared on one scale
    for ax, count in zip(axes[1:], threads):
        _draw_forms(ax, [r for r in rows if r["threads"] == count], "latency_us", errors=True)
        ax.set_ylabel("batch-1 latency (µs, log scale)")
        ax.set_title(f"latency at {count} thread{'s' if count > 1 else ''} (median, bars: quartiles)", fontsize=10)
    for ax in axes:  # after all drawing: the latency panels share one range
        ax.set_yscale("log")
        _log_ticks(ax.yaxis)
        _fraction_axis(ax)
    fig.suptitle("inference on CPU: which form to ship at which sparsity")
    _legend_below(fig, axes, ncols=3)
    return fig


def inference_plot(rows: list[dict], path: Path) -> None:
    _save(inference_figure(rows), path)


# --- instability to the data order ---------------------------------------------------

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


# --- overlap with hidden units matched -----------------------------------------------

ALIGNED_LOOKS = {  # overlap -> words and look
    "unaligned": {"label": "seed vs seed, units as they are", "color": color("rewind"), "marker": "o", "ls": "-"},
    "aligned": {"label": "seed vs seed, units matched by weights", "color": TOL_MUTED["teal"], "marker": "s", "ls": "--"},
}


def aligned_overlap_figure(record: dict) -> Figure:
    """Per weight matrix and pooled: the Jaccard overlap of different seeds' magnitude
    masks with their hidden units as they are and matched first, against chance."""
    fractions = record["fractions"]
    layers = list(fractions[0]["unaligned"]["layers"])
    fig = _figure(3.9 * (len(layers) + 1), 4.8)
    axes = fig.subplots(1, len(layers) + 1, sharey=True)
    x = [f["retained"] for f in fractions]
    for ax, layer in zip(axes, [*layers, None]):
        def value(f: dict, which: str) -> float:
            return f[which]["overall"] if layer is None else f[which]["layers"][layer]

        for which, look in ALIGNED_LOOKS.items():
            ax.plot(x, [value(f, which) for f in fractions], color=look["color"], marker=look["marker"],
                    ls=look["ls"], label=look["label"])
        if all("untrained_aligned" in f for f in fractions):
            ax.plot(x, [value(f, "untrained_aligned") for f in fractions], color="#888888", marker="x", ls="-.",
                    label="untrained networks (θ0), units matched: the matching's own lift")
        ax.plot(x, [value(f, "chance") for f in fractions], label="chance: random masks, same layer counts",
                **CHANCE_STYLE)
        ax.set_ylim(0, 1.05)
        ax.set_title("all weights, pooled" if layer is None else f"weight matrix {layer}", fontsize=10)
        _fraction_axis(ax)
    axes[0].set_ylabel("Jaccard overlap of kept weights (mean over pairs)")
    cosine = record["weight_cosine"]
    fig.suptitle(_title(record, f"do seeds keep the same weights once hidden units are matched? ({record['pairs']} "
                                f"pairs; weight cosine {cosine['unaligned']:.2f} unmatched, {cosine['aligned']:.2f} matched)"),
                 fontsize=10)
    _legend_below(fig, axes[:1], ncols=2)
    return fig


def aligned_overlap_plot(record: dict, path: Path) -> None:
    _save(aligned_overlap_figure(record), path)
