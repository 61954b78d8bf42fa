"""The reporting stages (select_width, aggregate, summarize): from the training
stages' JSON records to the width choice, result rows, per-method summaries and
figures. No torch here, so these jobs start fast."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from statistics import mean, pstdev

from lthpipe import plots
from lthpipe.artifacts import read_json, write_json, write_text
from lthpipe.settings import METHOD_ORDER

COLUMNS = ("dataset", "method", "seed", "fraction", "retained", "val_acc", "test_acc", "final_test_acc", "best_epoch")


def rows_from_records(dense: dict, pruned: list[dict], retrained: list[dict]) -> list[dict]:
    dataset = dense["dataset"]
    rows = []
    m = dense["metrics"]
    for i, seed in enumerate(dense["seeds"]):
        rows.append(_row(dataset, "dense", seed, 1.0, 1.0, m["val_acc"][i], m["test_acc"][i], m["final_test_acc"][i], m["best_epoch"][i]))
    for rec in pruned:
        m = rec["metrics"]
        for i, seed in enumerate(rec["seeds"]):
            rows.append(_row(dataset, "pruned", seed, rec["fraction"], m["retained"][i], m["val_acc"][i], m["test_acc"][i], m["test_acc"][i], 0))
    for rec in retrained:
        m = rec["metrics"]
        for i, net in enumerate(rec["networks"]):
            rows.append(_row(dataset, net["method"], net["seed"], rec["fraction"], net["retained"], m["val_acc"][i], m["test_acc"][i], m["final_test_acc"][i], m["best_epoch"][i]))
    return rows


def _row(dataset, method, seed, fraction, retained, val_acc, test_acc, final_test_acc, best_epoch) -> dict:
    return dict(zip(COLUMNS, (dataset, method, seed, fraction, retained, val_acc, test_acc, final_test_acc, best_epoch)))


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def curves(rows: list[dict]) -> dict[str, list[dict]]:
    """Per method, one point per nominal fraction (largest first): mean retained
    fraction and mean/std/min/max test accuracy over seeds."""
    groups: dict[tuple[str, float], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["method"], row["fraction"])].append(row)
    out: dict[str, list[dict]] = defaultdict(list)
    for (method, fraction), group in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        accs = [r["test_acc"] for r in group]
        out[method].append({
            "fraction": fraction,
            "retained": mean(r["retained"] for r in group),
            "mean": mean(accs), "std": pstdev(accs), "min": min(accs), "max": max(accs), "n": len(accs),
        })
    return dict(out)


def smallest_holding_fraction(points: list[dict], threshold: float) -> dict | None:
    """The point of smallest retained fraction such that it and every larger fraction
    have mean accuracy >= threshold (so one lucky point below a collapse doesn't count)."""
    holding = None
    for point in sorted(points, key=lambda p: -p["fraction"]):
        if point["mean"] < threshold:
            break
        holding = point
    return holding


def dataset_summary(dataset: str, rows: list[dict], selection: dict, tolerance: float) -> dict:
    by_method = curves(rows)
    dense = by_method.pop("dense")[0]
    threshold = dense["mean"] - tolerance
    methods = {}
    for method in (m for m in METHOD_ORDER if m in by_method):
        holding = smallest_holding_fraction(by_method[method], threshold)
        methods[method] = {
            "smallest_fraction": holding["fraction"] if holding else None,
            "retained": holding["retained"] if holding else None,
            "test_acc": holding["mean"] if holding else None,
            "points": by_method[method],
        }
    return {
        "stage": "aggregate", "dataset": dataset, "width": selection["width"],
        "next_smaller_width": selection["next_smaller_width"],
        "val_acc": selection["val_acc"], "next_smaller_val_acc": selection["next_smaller_val_acc"],
        "dense_test_acc": dense["mean"], "dense_test_std": dense["std"],
        "tolerance": tolerance, "methods": methods,
    }


def markdown(summaries: list[dict]) -> str:
    lines = [
        "# lthpipe summary",
        "",
        "Smallest fraction of weights retained at which each method's mean test accuracy stays "
        "within the tolerance of the dense network (and stays there at every larger fraction); "
        "'-' means it never does.",
        "",
        "| dataset | width (next smaller: val acc) | dense test acc | tolerance | "
        + " | ".join(METHOD_ORDER) + " |",
        "|---|---|---|---|" + "---|" * len(METHOD_ORDER),
    ]
    for s in summaries:
        smaller = "none" if s["next_smaller_width"] is None else f"{s['next_smaller_width']}: {s['next_smaller_val_acc']:.3f}"
        cells = []
        for method in METHOD_ORDER:
            info = s["methods"].get(method)
            cells.append("n/a" if info is None else "-" if info["retained"] is None else f"{info['retained']:.3f} ({info['test_acc']:.3f})")
        lines.append(
            f"| {s['dataset']} | {s['width']} (val {s['val_acc']:.3f}; {smaller}) | "
            f"{s['dense_test_acc']:.3f} ± {s['dense_test_std']:.3f} | {s['tolerance']} | " + " | ".join(cells) + " |"
        )
    lines += ["", "Cells: retained fraction (mean test accuracy there)."]
    for s in summaries:
        lines += ["", f"## {s['dataset']}: mean test accuracy by fraction retained", ""]
        fractions = sorted({p["fraction"] for m in s["methods"].values() for p in m["points"]}, reverse=True)
        present = [m for m in METHOD_ORDER if m in s["methods"]]
        lines.append("| fraction | " + " | ".join(present) + " |")
        lines.append("|---|" + "---|" * len(present))
        for fraction in fractions:
            cells = []
            for method in present:
                point = next((p for p in s["methods"][method]["points"] if p["fraction"] == fraction), None)
                cells.append("" if point is None else f"{point['mean']:.3f} ± {point['std']:.3f}")
            lines.append(f"| {fraction:.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def choose_width(mean_val_acc: dict[int, float], tolerance: float) -> int:
    """The smallest width whose mean validation accuracy is within tolerance of the best."""
    best = max(mean_val_acc.values())
    return min(w for w, acc in mean_val_acc.items() if acc >= best - tolerance)


def select_width(width_paths: list[Path], tolerance: float, out_json: Path, out_png: Path) -> None:
    records = sorted((read_json(p) for p in width_paths), key=lambda r: r["width"])
    val = {r["width"]: mean(r["metrics"]["val_acc"]) for r in records}
    test = {r["width"]: mean(r["metrics"]["test_acc"]) for r in records}
    chosen = choose_width(val, tolerance)
    smaller = [w for w in val if w < chosen]
    next_smaller = max(smaller) if smaller else None
    selection = {
        "stage": "selection", "dataset": records[0]["dataset"], "width": chosen, "tolerance": tolerance,
        "best_val_acc": max(val.values()), "val_acc": val[chosen], "test_acc": test[chosen],
        "next_smaller_width": next_smaller,
        "next_smaller_val_acc": val[next_smaller] if next_smaller is not None else None,
        "next_smaller_test_acc": test[next_smaller] if next_smaller is not None else None,
        "val_acc_by_width": {str(w): a for w, a in val.items()},
        "parents": [str(p) for p in width_paths],
    }
    plots.width_plot(records, chosen, tolerance, out_png)
    write_json(out_json, selection)


def aggregate(
    dataset: str, selection_path: Path, dense_path: Path, prune_paths: list[Path], retrain_paths: list[Path],
    # all JSON records: selection.json, dense/model.json, prune/*/masks.json, retrain/*/model.json
    tolerance: float, out_csv: Path, out_png: Path, out_json: Path,
) -> None:
    """Curve table, plot and per-method summary of one dataset, from the stages' sidecars."""
    dense = read_json(dense_path)
    pruned = [read_json(p) for p in prune_paths]
    retrained = [read_json(p) for p in retrain_paths]
    rows = rows_from_records(dense, pruned, retrained)
    summary = dataset_summary(dataset, rows, read_json(selection_path), tolerance)
    write_text(out_csv, to_csv(rows))
    plots.curve_plot(summary, out_png)
    write_json(out_json, summary)


def summarize(summary_paths: list[Path], out_md: Path, out_png: Path) -> None:
    summaries = [read_json(p) for p in summary_paths]
    write_text(out_md, markdown(summaries))
    plots.summary_plot(summaries, out_png)
