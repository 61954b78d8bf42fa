"""A pandas DataFrame (from a CSV, Parquet or OpenML source) to a Table, refusing
data that cannot train a classifier with a DataError that names the source, the
columns and the fix."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from lthpipe.datasets.base import DataError
from lthpipe.datasets.splits import Facts, Table, sorted_labels

Column = str | int  # a column name, or a position (negative counts from the end)


def table_from_frame(
    frame: pd.DataFrame,
    *,
    kind: str,
    source: str,
    target: Column,
    categorical: Sequence[Column],
    drop_missing: bool,
) -> Table:
    """Features are every column but the target: numeric ones as they are, `categorical`
    ones one-hot encoded after the split; labels are the target's distinct values in
    sorted order (numeric order for numbers)."""
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    target_column = _resolve(frame, target, "target", source)
    categorical_columns = [_resolve(frame, c, "categorical", source) for c in categorical]
    if target_column in categorical_columns:
        raise DataError(f"{source}: column {target_column!r} is the target; remove it from categorical:")
    features = [c for c in frame.columns if c != target_column]
    if not features:
        raise DataError(f"{source}: no feature columns besides the target {target_column!r}")
    frame, dropped = _drop_missing(frame, source, drop_missing)
    numeric = [c for c in features if c not in categorical_columns]
    _check_numeric(frame, numeric, source)
    text = frame[target_column].map(_label_text).tolist()
    class_names = sorted_labels(text)
    if len(class_names) < 2:
        raise DataError(
            f"{source}: target column {target_column!r} holds a single class {class_names}; a classifier needs "
            "two or more. Set target: to the column holding the labels."
        )
    index = {label: i for i, label in enumerate(class_names)}
    facts = Facts(
        kind=kind,
        source=source,
        feature_names=numeric,
        class_names=class_names,
        labels=f"label = column {target_column!r}, its {len(class_names)} values in sorted order",
        dropped=dropped,
    )
    return Table(
        facts=facts,
        # (n, d); a copy, since pandas may hand out a read-only view
        x=torch.from_numpy(frame[numeric].to_numpy(dtype="float64", copy=True)).float(),
        y=torch.tensor([index[t] for t in text], dtype=torch.int64),  # (n,)
        categorical={c: frame[c].map(_label_text).tolist() for c in categorical_columns},
    )


def _resolve(frame: pd.DataFrame, column: Column, role: str, source: str) -> str:
    """A column's name from its name or position."""
    names = list(frame.columns)
    if isinstance(column, int) and not isinstance(column, bool):
        if -len(names) <= column < len(names):
            return names[column]
        raise DataError(
            f"{source}: {role} column position {column} is out of range: there are {len(names)} columns "
            f"({_listing(names)}). Set {role}: to a column name or a position from {-len(names)} to {len(names) - 1}."
        )
    if column in names:
        return column
    raise DataError(f"{source}: no {role} column named {column!r}; the columns are {_listing(names)}. Fix {role}:.")


def _drop_missing(frame: pd.DataFrame, source: str, drop_missing: bool) -> tuple[pd.DataFrame, dict]:
    missing = frame.isna()  # (n, columns) bool
    per_column = {c: int(k) for c, k in missing.sum().items() if k}
    rows = missing.any(axis=1)  # (n,) bool
    if not per_column:
        return frame, {"rows": 0, "why": ""}
    where = ", ".join(f"{c!r} ({k} rows)" for c, k in per_column.items())
    if not drop_missing:
        raise DataError(
            f"{source}: missing values in {where}, {int(rows.sum())} rows in all. Set drop_missing: true to "
            "drop those rows, or fill the values in the file."
        )
    return frame[~rows], {"rows": int(rows.sum()), "why": f"missing values in {where}"}


def _check_numeric(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    text = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if text:
        listed = ", ".join(repr(c) for c in text)
        raise DataError(
            f"{source}: non-numeric feature columns {listed}. List them under categorical: [{listed}] to "
            "one-hot encode them, or remove them from the data."
        )


def _label_text(value: object) -> str:
    """A label or category as text; a whole float (a number column pandas made float) reads as an int."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
