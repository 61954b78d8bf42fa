"""The inference benchmark's figure (benchmark_inference), and the forms of a pruned
network in words and looks, which the summary's inference table uses too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lthpipe.lottery import TOL_MUTED, color
from lthpipe.plots.common import _figure, _fraction_axis, _legend_below, _log_ticks, _save

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
