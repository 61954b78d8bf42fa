"""The suite's figures (lthpipe.suite_report), drawn from its answer alone, in the
looks of lthpipe.plots.common: each method in its registry colour, marker and words."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from lthpipe.lottery import CURVE_ORDER, TOL_MUTED, color, label, marker
from lthpipe.plots.common import CHANCE_STYLE, _figure, _fraction_axis, _legend_below, _note, _save

THRESHOLD_STYLE = {"color": "#777777", "linestyle": ":", "linewidth": 1.0}
# One line style per kind of planted input.
PLANTED_STYLES = {"noise": "-", "permuted": "--"}


def suite_figure(answer: dict) -> Figure:
    """Three panels: each dataset's removable fraction with its bracket; its distribution
    across datasets per method; and against features per row."""
    fig = _figure(16, 6.5)
    per_dataset, spread, against = fig.subplots(1, 3)
    plain = [r for r in answer["members"] if r["status"] == "accepted" and not r["planted"]]
    method = answer["reference_method"]
    fig.suptitle(f"suite {answer['suite']}: share of the weights that can go without losing dense accuracy "
                 f"({len(plain)} datasets)")
    if method is None:
        for ax in (per_dataset, spread, against):
            _note(ax, "no member finished")
        return fig
    _draw_per_dataset(per_dataset, plain, answer)
    _draw_spread(spread, plain, answer)
    _draw_against_trait(against, plain, answer, "features_per_row", "features per row (log scale)")
    _legend_below(fig, [per_dataset, spread], ncols=4)
    return fig


def _draw_per_dataset(ax, plain: list[dict], answer: dict) -> None:
    method = answer["reference_method"]
    ordered = sorted(plain, key=lambda r: (r["methods"].get(method, {}).get("removable", -1), r["dataset"]))
    rows = np.arange(len(ordered))
    for m in answer["methods"]:
        lows = [r["methods"][m]["removable"] if m in r["methods"] else np.nan for r in ordered]
        if m == method:
            highs = [r["methods"][m]["upper"] if m in r["methods"] else np.nan for r in ordered]
            ax.hlines(rows, lows, highs, color=color(m), linewidth=3, alpha=0.35,
                      label=f"{label(m)}: up to where a point fails")
            ax.plot(lows, rows, linestyle="none", marker=marker(m), color=color(m), markersize=8, label=label(m))
        else:
            ax.plot(lows, rows, linestyle="none", marker=marker(m), color=color(m), markersize=5, alpha=0.8,
                    label=label(m))
    for t in (0.5, 0.8):
        ax.axvline(t, **THRESHOLD_STYLE)
    ax.set_yticks(rows, [r["dataset"] for r in ordered], fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("removable fraction of the weights")
    ax.set_title("per dataset (dotted: 50% and 80%)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)


def _draw_spread(ax, plain: list[dict], answer: dict) -> None:
    """Per method, the share of datasets allowing at least x to go."""
    for m in answer["methods"]:
        values = sorted(r["methods"][m]["removable"] for r in plain if m in r["methods"])
        n = len(values)
        xs = np.concatenate([[0.0], values, [1.0]])
        shares = np.concatenate([[1.0], 1 - np.arange(n) / n, [0.0]])  # share with removable >= x
        ax.step(xs[:-1], shares[:-1], where="post", color=color(m), marker=marker(m), markevery=list(range(1, n + 1)),
                label=label(m), linewidth=2 if m == answer["reference_method"] else 1.2)
    for t in (0.5, 0.8):
        ax.axvline(t, **THRESHOLD_STYLE)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("removable fraction x")
    ax.set_ylabel("share of datasets allowing at least x to go")
    ax.set_title("across datasets", fontsize=10)
    ax.grid(True, alpha=0.3)


def _draw_against_trait(ax, plain: list[dict], answer: dict, trait: str, words: str) -> None:
    method = answer["reference_method"]
    rows = [r for r in plain if method in r["methods"]]
    xs = [r["traits"][trait] for r in rows]
    ys = [r["methods"][method]["removable"] for r in rows]
    ax.scatter(xs, ys, color=color(method), marker=marker(method))
    for x, y, r in zip(xs, ys, rows):
        ax.annotate(r["dataset"], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(words)
    ax.set_ylabel(f"removable fraction ({label(method)})")
    rho = answer["methods"][method]["correlation"].get(trait, {}).get("rho")
    ax.set_title(f"against {words.split(' (')[0]}: Spearman rho "
                 + ("-" if rho is None else f"{rho:+.2f}"), fontsize=10)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(True, alpha=0.3)


def suite_plot(answer: dict, path: Path) -> None:
    _save(suite_figure(answer), path)


def planted_figure(answer: dict) -> Figure:
    """Three panels: the ticket's removable fraction against the planted factor per
    dataset; the share of planted minus real connections removed (an affine function of
    the connection AUC), and the AUC of an input's surviving connections detecting real
    inputs, against the fraction retained; the masks of planted["shown"]."""
    planted = answer["planted"]
    fig = _figure(16, 6)
    by_factor, shares, detector = fig.subplots(1, 3)
    fig.suptitle(f"suite {answer['suite']}: planted irrelevant inputs (k × the real features)")
    if not planted or not planted["inputs"]:
        for ax in (by_factor, shares, detector):
            _note(ax, "no planted variant finished")
        return fig
    colors = dict(zip(sorted({row["base"] for row in planted["removable"]}), _cycle()))
    for row in planted["removable"]:
        factors = sorted(f for f, info in row["factors"].items() if info is not None)
        by_factor.plot(factors, [row["factors"][f]["removable"] for f in factors], marker="o",
                       color=colors[row["base"]], linestyle=PLANTED_STYLES[row["kind"]],
                       label=f"{row['base']}, {row['kind']}")
    by_factor.set_xlabel("planted inputs per real input (k)")
    by_factor.set_ylabel(f"removable fraction ({label(planted['method'])})")
    by_factor.set_ylim(-0.02, 1.02)
    by_factor.set_title("does more irrelevant input make more weights removable?", fontsize=10)
    by_factor.grid(True, alpha=0.3)
    by_factor.legend(fontsize=7)
    lines: dict[tuple, list[dict]] = defaultdict(list)
    for row in planted["inputs"]:
        if row["method"] in planted["shown"]:
            lines[(row["method"], row["kind"], row["factor"])].append(row)
    factors = sorted({k for _, _, k in lines})
    widths = {k: 1.0 + 1.2 * i for i, k in enumerate(factors)}
    for (m, kind, k), rows in sorted(lines.items(), key=lambda kv: (_order(kv[0][0]), kv[0][1], kv[0][2])):
        rows = sorted(rows, key=lambda r: -r["retained"])
        style = {"color": color(m), "marker": marker(m), "linestyle": PLANTED_STYLES[kind], "linewidth": widths[k],
                 "markersize": 4, "label": f"{label(m)}, {kind}, k = {k}"}
        xs = [r["retained"] for r in rows]
        shares.plot(xs, [r["planted_removed"] - r["real_removed"] for r in rows], **style)
        detector.plot(xs, [r["input_auc"] for r in rows], **style)
    shares.axhline(0, **CHANCE_STYLE)
    shares.set_ylabel("share of planted minus share of real connections removed")
    shares.set_title("connections: above 0 when pruning removes planted inputs first", fontsize=10)
    detector.axhline(0.5, **CHANCE_STYLE)
    detector.set_ylabel("ROC AUC: an input's surviving connections → real input")
    detector.set_title("inputs: 0.5 when pruning cannot tell planted from real", fontsize=10)
    for ax in (shares, detector):
        _fraction_axis(ax)
    _legend_below(fig, [shares], ncols=3)
    return fig


def _order(method: str) -> int:
    return CURVE_ORDER.index(method) if method in CURVE_ORDER else len(CURVE_ORDER)


def _cycle() -> list[str]:
    names = ("indigo", "rose", "green", "sand", "cyan", "wine", "teal", "olive", "purple")
    return [TOL_MUTED[n] for n in names] * 4


def planted_plot(answer: dict, path: Path) -> None:
    _save(planted_figure(answer), path)
