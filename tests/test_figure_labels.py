"""Every figure says what it shows: each panel that draws data has its x and y axes
labelled (by its own label, or by the panel it shares a row or column with; a
categorical axis by its tick labels; an image by its colour bar), the figure has a
title naming the dataset, and the axes that are the same quantity in every figure
carry the same words. Fixture records: tests/data (see tests/test_plots.py)."""

from __future__ import annotations

import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from lthpipe.plots.curves import curve_figure, summary_figure
from lthpipe.plots.inference import inference_figure
from lthpipe.plots.regions import decision_regions_figure
from lthpipe.plots.width import width_figure
from lthpipe.selection import choose
from test_plots import DATASETS, SUMMARY_FIGURES, benchmark_rows, regions_inputs, summary

FRACTION = "fraction of weights retained (log scale)"


def panels(fig: Figure) -> list[Axes]:
    """The axes that draw data (colour bars and switched-off panels aside)."""
    return [ax for ax in fig.axes
            if ax.axison and ax.get_subplotspec() is not None
            and (ax.lines or ax.collections or ax.images or ax.containers or ax.patches)]


def shared_label(ax: Axes, others: list[Axes], axis: str) -> str:
    """ax's label on `axis`, or that of a panel in its column (x) or row (y)."""
    own = ax.get_xlabel() if axis == "x" else ax.get_ylabel()
    if own:
        return own
    span = "colspan" if axis == "x" else "rowspan"
    mine = getattr(ax.get_subplotspec(), span)
    for other in others:
        if getattr(other.get_subplotspec(), span) == mine:
            label = other.get_xlabel() if axis == "x" else other.get_ylabel()
            if label:
                return label
    return ""


def check_labelled(fig: Figure) -> list[tuple[str, str]]:
    """Every data panel's x and y labels, after sharing; fails on an unlabelled axis."""
    drawn = panels(fig)
    assert drawn, "no panel draws anything"
    fig.canvas.draw()  # tick labels exist once drawn
    colour_bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    labels = []
    for ax in drawn:
        x, y = shared_label(ax, drawn, "x"), shared_label(ax, drawn, "y")
        if ax.images and not (x or y):  # an image's pixels: what a colour means is the colour bar's label
            assert colour_bars and all(bar.get_xlabel() or bar.get_ylabel() for bar in colour_bars)
        else:
            row = [o for o in drawn if o.get_subplotspec().rowspan == ax.get_subplotspec().rowspan]
            ticks_y = [t.get_text() for o in row for t in o.get_yticklabels() if t.get_text()]
            assert x, f"panel {ax.get_title()!r}: no x label"
            # A categorical axis (one bar per feature) is named by its tick labels.
            assert y or (ticks_y and not any(t.replace(".", "").replace("−", "").isdigit() for t in ticks_y)), (
                f"panel {ax.get_title()!r}: no y label")
        labels.append((x, y))
    return labels


def title_of(fig: Figure) -> str:
    """The figure's title and its panels' titles."""
    return "\n".join([fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)])


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("figure", SUMMARY_FIGURES)
def test_every_summary_figure_has_labelled_axes_and_a_title_naming_its_dataset(figure, dataset):
    build, _ = SUMMARY_FIGURES[figure]
    s = summary(dataset)
    fig = build(s)
    assert s["dataset"] in title_of(fig)
    if not panels(fig):  # a run without masks or histories: the figure says so instead
        assert dataset == "lenet_imp_only"
        return
    labels = check_labelled(fig)
    if figure in ("curve", "early_stop", "stability"):
        assert {x for x, _ in labels} == {FRACTION}
    if figure == "curve":
        assert labels == [(FRACTION, "test accuracy at early stopping")]
    if figure == "training":
        assert {y for _, y in labels} == {"validation accuracy", "training loss (cross-entropy)"}
        assert {x for x, _ in labels} == {"epoch"}


def test_the_summary_figure_labels_every_datasets_panel():
    summaries = [summary(d) for d in ("mnist", "diabetes", "swiss_roll")]
    fig = summary_figure(summaries)
    assert check_labelled(fig) == [(FRACTION, "test accuracy at early stopping")] * 3
    assert [ax.get_title().split(" ")[0] for ax in panels(fig)] == ["mnist", "diabetes", "swiss_roll"]
    assert fig.get_suptitle()


def test_the_width_figure_labels_its_axes_and_names_the_dataset_and_rule():
    records = [{"dataset": "mnist", "width": w, "metrics": {"val_acc": [a, a + 0.01, a + 0.004]}}
               for w, a in ((8, 0.8), (16, 0.9), (32, 0.95))]
    selection = choose({r["width"]: r["metrics"]["val_acc"] for r in records}, 0.01, "one_se")
    fig = width_figure(records, selection)
    assert check_labelled(fig) == [
        ("hidden width (units per layer, log scale)", "validation accuracy at early stopping")]
    assert "mnist: width search (one_se rule)" in title_of(fig)


def test_the_decision_regions_label_both_input_axes():
    args = regions_inputs(3)
    fig = decision_regions_figure(*args)
    assert check_labelled(fig) == [("x (standardized)", "y (standardized)")] * 2
    assert title_of(fig).startswith("toy: decision regions")


def test_the_inference_figure_labels_size_and_latency_against_the_fraction():
    fig = inference_figure(benchmark_rows((1, 2)))
    assert check_labelled(fig) == [(FRACTION, "size on disk (KiB, log scale)"),
                                   (FRACTION, "batch-1 latency (µs, log scale)"),
                                   (FRACTION, "batch-1 latency (µs, log scale)")]
    assert [ax.get_title() for ax in panels(fig)][1:] == [
        "latency at 1 thread (median, bars: quartiles)", "latency at 2 threads (median, bars: quartiles)"]


def test_an_unlabelled_axis_is_caught():
    """Not vacuous: the check fails on a panel without a y label."""
    fig = curve_figure(summary("diabetes"))
    panels(fig)[0].set_ylabel("")
    with pytest.raises(AssertionError, match="no y label"):
        check_labelled(fig)

