"""The summarize_instability stage: one dataset's instability records (lthpipe.instability)
per rewind point and kind of network, as a summary and its figure."""

from __future__ import annotations

from pathlib import Path
from statistics import mean, pstdev

from lthpipe.artifacts import read_json, write_json
from lthpipe.plots.instability import instability_plot

INSTABILITY_KINDS = ("dense", "ticket")  # the networks the instability stage spawns copies of


def instability_points(records: list[dict]) -> list[dict]:
    """Per rewind point and kind of network, the error barriers between the two copies
    (mean, sd, every network's) and the copies' test accuracy at early stopping (mean
    over networks and copies), with the mean error along the line."""
    points = []
    for rec in sorted(records, key=lambda r: r["at"]):
        for kind in INSTABILITY_KINDS:
            mine = [n for n in rec["networks"] if n["kind"] == kind]
            barriers = [n["barrier"] for n in mine]
            accs = [acc for n in mine for acc in n["test_acc"]]
            points.append({
                "at": rec["at"], "iteration": mean(n["iteration"] for n in mine), "kind": kind,
                "retained": mean(n["retained"] for n in mine), "barrier": mean(barriers),
                "barrier_sd": pstdev(barriers), "barriers": barriers, "test_acc": mean(accs),
                "test_acc_sd": pstdev(accs), "curve": [mean(c) for c in zip(*(n["error_curve"] for n in mine))],
            })
    return points


def summarize_instability(dataset: str, dense_path: Path, record_paths: list[Path], out_json: Path, out_png: Path) -> None:
    """The instability analysis of one dataset, every rewind point: a summary and a figure
    of the error barrier against the rewind point beside the copies' accuracy there."""
    dense = read_json(dense_path)
    records = [read_json(p) for p in record_paths]
    summary = {
        "stage": "instability_summary", "dataset": dataset, "hidden": dense["hidden"], "unit": records[0]["unit"],
        "fraction": records[0]["fraction"], "alphas": records[0]["alphas"],
        "dense_test_acc": mean(dense["metrics"]["test_acc"]), "points": instability_points(records),
        "parents": [str(dense_path), *map(str, record_paths)],
    }
    write_json(out_json, summary)
    instability_plot(summary, out_png)
