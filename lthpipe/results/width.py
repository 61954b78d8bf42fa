"""The select_width stage: the width search's decision (lthpipe.selection) from every
width's record, and its figure."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from lthpipe import selection as selection_rules
from lthpipe.artifacts import read_json, write_json
from lthpipe.plots.width import width_plot
from lthpipe.settings import SelectionSettings


def select_width(width_paths: list[Path], settings: SelectionSettings, out_json: Path, out_png: Path) -> None:
    """The width search's decision (lthpipe.selection) from every width's record."""
    records = sorted((read_json(p) for p in width_paths), key=lambda r: r["width"])
    units = records[0]["networks"]
    for r in records:
        if r["networks"] != units:
            raise ValueError(f"width {r['width']} trained other networks than width {records[0]['width']}: cannot pair")
    selection = selection_rules.choose({r["width"]: r["metrics"]["val_acc"] for r in records}, settings.tolerance,
                                       settings.rule)
    for row, record in zip(selection["widths"], records):
        row["test_acc"] = mean(record["metrics"]["test_acc"])
        row.update(selection_rules.undertraining(record["metrics"]))
    chosen = next(w for w in selection["widths"] if w["width"] == selection["width"])
    selection = {
        "stage": "selection", "dataset": records[0]["dataset"], **selection,
        "val_acc": chosen["val_acc"], "test_acc": chosen["test_acc"],
        "best_val_acc": max(w["val_acc"] for w in selection["widths"]),
    }
    selection["notes"] = selection_rules.notes(selection)
    selection["parents"] = [str(p) for p in width_paths]
    width_plot(records, selection, out_png)
    write_json(out_json, selection)
