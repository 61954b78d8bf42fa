"""The aggregate stage: one dataset's records as the curve table (curve.csv), its
summary (summary.json: every method's curve and how far it holds, the comparisons,
the masks, the training histories and the caveats) and the figures drawn from it."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from statistics import mean, pstdev

from lthpipe import selection as selection_rules
from lthpipe.artifacts import fraction_tag, nearest_fraction, read_json, write_json, write_text
from lthpipe.lottery import CURVE_ORDER, PROCEDURES, label
from lthpipe.plots.curves import curve_plot, early_stop_plot, training_plot
from lthpipe.plots.masks import removed_plot, stability_plot, units_plot
from lthpipe.results.compare import comparisons, curves, holds_down_to
from lthpipe.settings import ReportSettings

COLUMNS = (
    "dataset", "procedure", "method", "seed", "fold", "fraction", "level", "retained", "val_acc", "test_acc",
    "final_test_acc", "best_iteration",
)
# Each dataset's figures, drawn from its summary alone.
FIGURES = {
    "curve": curve_plot,
    "early_stop": early_stop_plot,
    "training": training_plot,
    "removed": removed_plot,
    "units": units_plot,
    "stability": stability_plot,
}


def _rows(dataset: str, procedure: str, record: dict, networks: list[dict], fraction, level: int) -> list[dict]:
    m = record["metrics"]
    return [
        dict(zip(COLUMNS, (
            dataset, procedure, n["method"], n["seed"], n.get("fold", 0), fraction, level, n.get("retained", 1.0),
            m["val_acc"][i], m["test_acc"][i], m.get("final_test_acc", m["test_acc"])[i],
            m.get("best_iteration", [0] * len(networks))[i],
        )))
        for i, n in enumerate(networks)
    ]


def rows_from_records(dense: dict, pruned: list[dict], retrained: list[dict], levels: list[dict]) -> list[dict]:
    dataset = dense["dataset"]
    rows = _rows(dataset, "dense", dense, dense["networks"], 1.0, 0)
    for rec in pruned:
        networks = [{**n, "method": "pruned", "retained": r} for n, r in zip(rec["metrics"]["networks"], rec["metrics"]["retained"])]
        rows += _rows(dataset, "oneshot", rec, networks, rec["fraction"], 0)
    for rec in retrained:
        rows += _rows(dataset, "oneshot", rec, rec["networks"], rec["fraction"], 0)
    rows += _level_rows(dataset, levels)
    return rows


def _level_rows(dataset: str, levels: list[dict]) -> list[dict]:
    """Rows of the iterative levels, from the tickets' records (stage imp) and the
    controls' (imp_controls, at the levels that have them): one row per network,
    whichever job trained it; a network found in two records is an error."""
    rows: list[dict] = []
    seen: dict[tuple, str] = {}
    for rec in levels:
        for row in _rows(dataset, "imp", rec, rec["networks"], None, rec["level"]):
            key = (row["level"], row["method"], row["seed"], row["fold"])
            if key in seen:
                raise ValueError(f"level {key[0]}: {key[1]} of seed {key[2]} (split {key[3]}) is in two records, "
                                 f"{seen[key]} and {rec['stage']}")
            seen[key] = rec["stage"]
            rows.append(row)
    return rows


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


# The fractions whose training curves the report shows: the configured ones nearest these.
TRAINING_CURVE_FRACTIONS = (0.5, 0.2, 0.05)


def _mean_history(histories: list[dict]) -> dict:
    """Per evaluation point, the mean over networks of epochs done, validation
    accuracy and training loss (networks of one job share the evaluation grid up
    to the splits' sizes, so points are matched by position)."""
    n = min(len(h["iteration"]) for h in histories)
    return {
        "epoch": [mean(h["iteration"][i] / h["steps_per_epoch"] for h in histories) for i in range(n)],
        "val_acc": [mean(h["val_acc"][i] for h in histories) for i in range(n)],
        "train_loss": [mean(h["train_loss"][i] for h in histories) for i in range(n)],
    }


def training_curves(dense: dict, retrained: list[dict]) -> dict:
    """How the dense network and each method's networks train, at a few fractions."""
    curves = {"dense": _mean_history(dense["metrics"]["history"]), "fractions": {}}
    available = sorted({rec["fraction"] for rec in retrained})
    chosen = sorted({nearest_fraction(available, target) for target in TRAINING_CURVE_FRACTIONS},
                    reverse=True) if available else []
    for rec in retrained:
        if rec["fraction"] in chosen:
            by_method: dict[str, list[dict]] = defaultdict(list)
            for network, history in zip(rec["networks"], rec["metrics"]["history"]):
                by_method[network["method"]].append(history)
            curves["fractions"][fraction_tag(rec['fraction'])] = {m: _mean_history(h) for m, h in by_method.items()}
    return curves


def dataset_summary(dataset: str, rows: list[dict], selection: dict | None, data: dict, masks: list[dict],
                    tolerance: float) -> dict:
    dense = [r["test_acc"] for r in rows if r["procedure"] == "dense"]
    by_curve = curves(rows, tolerance)
    methods: dict[str, dict] = {}
    for procedure in (p for p in PROCEDURES if p in by_curve):
        by_method = by_curve[procedure]
        for method in (m for m in CURVE_ORDER if m in by_method):
            holding = holds_down_to(by_method[method])
            methods.setdefault(procedure, {})[method] = {
                "smallest_fraction": holding["fraction"] if holding else None,
                "level": holding["level"] if holding else None,
                "retained": holding["retained"] if holding else None,
                "test_acc": holding["mean"] if holding else None,
                "points": by_method[method],
            }
    return {
        "stage": "aggregate", "dataset": dataset,
        "selection": selection,
        "n_units": len(dense), "folds": data.get("folds", 1),
        "data": {k: data.get(k) for k in ("n_features", "n_classes", "feature_names", "image_shape", "labels")},
        "dense_test_acc": mean(dense), "dense_test_std": pstdev(dense),
        "tolerance": tolerance, "methods": methods, "comparisons": comparisons(rows),
        "masks": masks,
    }


def aggregate(
    dataset: str, data_path: Path, selection_path: Path | None, dense_path: Path, prune_paths: list[Path],
    retrain_paths: list[Path], level_paths: list[Path], settings: ReportSettings, out_csv: Path, out_json: Path,
    figures: dict[str, Path],
) -> None:
    """Curve table, per-method summary and figures of one dataset, from the stages'
    sidecars; `figures` maps each figure (FIGURES) to its file."""
    dense = read_json(dense_path)
    pruned = [read_json(p) for p in prune_paths]
    retrained = [read_json(p) for p in retrain_paths]
    rows = rows_from_records(dense, pruned, retrained, [read_json(p) for p in level_paths])
    selection = read_json(selection_path) if selection_path else None
    masks = [{"fraction": rec["fraction"], **rec["masks"]} for rec in pruned]
    summary = dataset_summary(dataset, rows, selection, read_json(data_path), masks, settings.tolerance)
    summary["hidden"] = dense["hidden"]
    summary["notes"] = (selection["notes"] if selection else []) + _training_notes(dense, retrained)
    summary["training"] = training_curves(dense, retrained)
    write_text(out_csv, to_csv(rows))
    for name, draw in FIGURES.items():
        draw(summary, figures[name])
    write_json(out_json, summary)


def _training_notes(dense: dict, retrained: list[dict]) -> list[str]:
    """Under-training of the dense networks and of each retrained method (lthpipe.selection)."""
    notes = []
    if selection_rules.undertraining(dense["metrics"])["undertrained"]:
        notes.append("under-trained dense networks: most reached their best validation point in the last "
                     f"{selection_rules.LATE_SHARE:.0%} of the budget; raise `train.epochs` or set `train.patience`")
    late: dict[str, int] = defaultdict(int)
    for rec in retrained:
        by_method = defaultdict(list)
        for network, best, budget in zip(rec["networks"], rec["metrics"]["best_iteration"], rec["metrics"]["budget"]):
            by_method[network["method"]].append((best, budget))
        for method, pairs in by_method.items():
            late[method] += selection_rules.late_share(*zip(*pairs)) > selection_rules.LATE_UNITS
    counts = [f"{label(m)} at {k} of {len(retrained)}" for m, k in late.items() if k]
    if counts:
        notes.append("under-trained retraining (most networks still improving in the budget's last "
                     f"{selection_rules.LATE_SHARE:.0%}), fractions: " + "; ".join(counts))
    return notes
