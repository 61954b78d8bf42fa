"""A pandas DataFrame (from a CSV, Parquet or OpenML source) to a Table, cleaned as
the source's TableSettings say, refusing data that cannot train a classifier with
a DataError that names the source, the columns and the fix.

In order: the `ignore` columns go; a cell is missing when its text (spaces
stripped) is one of `missing_values` or it is null; numeric features must be
numbers apart from those; rows with a missing cell are refused, dropped, or kept
for splits.impute to fill per fold (`missing`); then the classes with fewer than
`min_class_rows` of the remaining rows are left out.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import torch

from lthpipe.datasets.base import DataError, TableSettings
from lthpipe.datasets.splits import Facts, Table, sorted_labels

Column = str | int  # a column name, or a position (negative counts from the end)
# How the record and messages name a cell stored as null (Parquet, OpenML) rather than as a text.
NULL = "(null)"
SHOWN_TEXTS = 3  # distinct texts a message shows of a column that should hold numbers


def table_from_frame(frame: pd.DataFrame, *, kind: str, source: str, target: Column, settings: TableSettings) -> Table:
    """Features are every column but the target and the ignored ones: numeric ones as they
    are, `categorical` ones one-hot encoded after the split; labels are the target's
    distinct values in sorted order (numeric order for numbers)."""
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    target_column, categorical, ignored = _roles(frame, target, settings, source)
    frame = frame.drop(columns=ignored)
    numeric = [c for c in frame.columns if c != target_column and c not in categorical]
    if not numeric and not categorical:
        left_out = f" once ignore: leaves out {_listing(ignored)}" if ignored else ""
        raise DataError(f"{source}: no feature columns besides the target {target_column!r}{left_out}")
    missing, found = _find_missing(frame, settings.missing_values)  # (n, columns) bool
    x = _numbers(frame[numeric], missing[numeric], source)  # (n, d) float64, NaN where missing
    labels = _texts(frame[target_column], missing[target_column])  # (n,) None where missing
    keep = ~_rows_to_drop(missing, found, target_column, settings.missing, source)  # (n,) bool
    rare = _rare_classes(labels[keep], settings.min_class_rows)
    keep &= ~labels.isin(list(rare))
    class_names = _class_names(labels[keep], target_column, rare, settings.min_class_rows, source)
    index = {label: i for i, label in enumerate(class_names)}
    facts = Facts(
        kind=kind,
        source=source,
        feature_names=numeric,
        class_names=class_names,
        labels=_labels_line(target_column, class_names, rare, settings.min_class_rows),
        dropped=_dropped(missing, keep, rare, settings),
        ignored=ignored,
        missing=_missing_record(missing, found, keep, settings.missing),
        left_out_classes=rare,
    )
    return Table(
        facts=facts,
        # (n', d); a copy, since pandas may hand out a read-only view
        x=torch.from_numpy(x.loc[keep].to_numpy(dtype="float64", copy=True)).float(),
        y=torch.tensor([index[label] for label in labels[keep]], dtype=torch.int64),  # (n',)
        categorical={c: _texts(frame[c], missing[c])[keep].tolist() for c in categorical},
        impute=settings.missing == "impute",
        planted=settings.planted,
    )


def _roles(
    frame: pd.DataFrame, target: Column, settings: TableSettings, source: str
) -> tuple[str, list[str], list[str]]:
    """The names of the target, the categorical columns and the ignored columns, checked."""
    target_column = _resolve(frame, target, "target", source)
    # dict.fromkeys: a column named once by name and once by position counts once
    categorical = list(dict.fromkeys(_resolve(frame, c, "categorical", source) for c in settings.categorical))
    ignored = list(dict.fromkeys(_resolve(frame, c, "ignore", source) for c in settings.ignore))
    for role, columns in (("categorical", categorical), ("ignore", ignored)):
        if target_column in columns:
            raise DataError(
                f"{source}: column {target_column!r} is the target; remove it from {role}: (or set target: to the "
                "label column)"
            )
    both = [c for c in categorical if c in ignored]
    if both:
        raise DataError(f"{source}: {_listing(both)} under both categorical: and ignore:; keep each in one of them")
    return target_column, categorical, ignored


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


def _find_missing(frame: pd.DataFrame, texts: Sequence[str]) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    """Which cells are missing, (n, columns) bool; and for each column with some, how
    many cells held each text of `texts` (NULL for null cells), most first."""
    tokens = set(texts)
    missing, found = {}, {}
    for column in frame.columns:
        cells = frame[column]
        null = cells.isna()
        token = pd.Series(False, index=cells.index)
        counts: dict[str, int] = {}
        if not pd.api.types.is_numeric_dtype(cells):  # a numeric column holds no texts
            stripped = cells.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
            token = stripped.isin(tokens) & ~null
            counts = {str(text): int(k) for text, k in stripped[token].value_counts().items()}
        missing[column] = null | token
        if null.any():
            counts[NULL] = int(null.sum())
        if counts:
            found[column] = dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return pd.DataFrame(missing, index=frame.index), found


def _numbers(frame: pd.DataFrame, missing: pd.DataFrame, source: str) -> pd.DataFrame:
    """The numeric feature columns as float64, NaN in the missing cells; a column with
    text in any other cell is refused."""
    numbers = frame.mask(missing).apply(_parse)
    text = numbers.isna() & ~missing  # (n, d) cells that are neither numbers nor missing
    if text.to_numpy().any():
        raise DataError(_non_numeric_message(frame, text, missing, source))
    return numbers.astype("float64")


def _parse(cells: pd.Series) -> pd.Series:
    """Numbers as they are; anything else cell by cell, NaN where a cell is no number.
    As objects, so that a date is no number (to_numeric would count its microseconds)."""
    if pd.api.types.is_numeric_dtype(cells):
        return cells
    return pd.to_numeric(cells.astype(object), errors="coerce")


def _non_numeric_message(frame: pd.DataFrame, text: pd.DataFrame, missing: pd.DataFrame, source: str) -> str:
    """Each text column with a few of its texts; where the texts are a minority among
    numbers they likely mark missing cells, so missing_values: is offered as the fix."""
    columns = [c for c in frame.columns if text[c].any()]
    described, markers = [], []
    for column in columns:
        counts = frame.loc[text[column], column].astype(str).value_counts()
        shown = [t for t, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:SHOWN_TEXTS]]
        cells, given = int(text[column].sum()), int((~missing[column]).sum())
        mostly_numbers = 2 * cells < given
        share = f" in {cells} of its {given} cells, the others numbers" if mostly_numbers else ""
        described.append(f"{column!r} holds text such as {', '.join(map(repr, shown))}{share}")
        markers += shown if mostly_numbers else []
    listed = ", ".join(map(repr, columns))
    message = (
        f"{source}: non-numeric feature columns: {'; '.join(described)}. List them under categorical: [{listed}] "
        f"to one-hot encode them, or leave them out with ignore: [{listed}]."
    )
    if markers:
        one = len(markers) == 1
        texts = ", ".join(map(repr, markers))
        fix = f"add {'it' if one else 'them'} to missing_values: instead."
        message += f" If {texts} mark{'s' if one else ''} missing cells, {fix}"
    return message


def _texts(cells: pd.Series, missing: pd.Series) -> pd.Series:
    """(n,) each cell as text, None where missing. A column whose other cells are all
    numbers reads as numbers, so '1.0' and '1' are one label, as pandas always parsed them."""
    given = cells[~missing].astype(object)
    numbers = pd.to_numeric(given, errors="coerce")
    if numbers.notna().all():
        given = numbers
    return given.map(_label_text).reindex(cells.index).astype(object).where(~missing, None)


def _rows_to_drop(
    missing: pd.DataFrame, found: dict[str, dict[str, int]], target: str, policy: str, source: str
) -> pd.Series:
    """(n,) the rows that `missing: drop` leaves out; refused as the policy says."""
    cells = {c: int(k) for c, k in missing.sum().items() if k}
    rows = missing.any(axis=1)  # (n,) bool
    none = pd.Series(False, index=missing.index)
    if not cells:
        return none
    where = ", ".join(f"column {c!r} has {_cells(k)} ({_found_text(found[c])})" for c, k in cells.items())
    if policy == "refuse":
        impute = "" if target in cells else (
            ", or missing: impute to fill the cells from each fold's training rows (a numeric column's median, a "
            "categorical column's most frequent value)"
        )
        raise DataError(
            f"{source}: missing values: {where}; {_rows_with_one(int(rows.sum()))}. Set missing: drop to leave those "
            f"rows out{impute}, or fill them in the file."
        )
    if policy == "impute" and target in cells:
        raise DataError(
            f"{source}: the target column {target!r} has {_cells(cells[target])} ({_found_text(found[target])}), "
            "and labels are never imputed. Set missing: drop to leave those rows out, or fill them in the file."
        )
    if policy == "impute":
        return none
    if rows.all():
        raise DataError(
            f"{source}: every row has a missing cell ({where}); set missing: impute, or fill them in the file."
        )
    return rows


def _rare_classes(labels: pd.Series, min_rows: int) -> dict[str, int]:
    """Label -> rows of each class with fewer than min_rows rows, in label order."""
    counts = labels.value_counts()
    return {label: int(counts[label]) for label in sorted_labels(counts.index) if counts[label] < min_rows}


def _class_names(labels: pd.Series, target: str, rare: dict[str, int], min_rows: int, source: str) -> list[str]:
    class_names = sorted_labels(labels)
    if len(class_names) >= 2:
        return class_names
    if rare:
        kept = _counts_text({label: int(k) for label, k in labels.value_counts().items()}) or "none"
        raise DataError(
            f"{source}: min_class_rows: {min_rows} leaves {len(class_names)} class{'' if class_names else 'es'} of "
            f"column {target!r} (kept: {kept}; left out: {_counts_text(rare)}); a classifier needs two or more. "
            "Lower min_class_rows."
        )
    raise DataError(
        f"{source}: target column {target!r} holds a single class {class_names}; a classifier needs "
        "two or more. Set target: to the column holding the labels."
    )


def _labels_line(target: str, class_names: list[str], rare: dict[str, int], min_rows: int) -> str:
    line = f"label = column {target!r}, its {len(class_names)} values in sorted order"
    return line + (f" ({len(rare)} classes with fewer than {min_rows} rows left out)" if rare else "")


def _dropped(missing: pd.DataFrame, keep: pd.Series, rare: dict[str, int], settings: TableSettings) -> dict:
    """Rows left out in all, and why."""
    why = []
    if settings.missing == "drop" and missing.to_numpy().any():
        cells = ", ".join(f"{c!r} ({int(k)})" for c, k in missing.sum().items() if k)
        why.append(f"rows with missing cells in {cells}")
    if rare:
        why.append(f"classes with fewer than {settings.min_class_rows} rows: {_counts_text(rare)}")
    return {"rows": int((~keep).sum()), "why": "; ".join(why)}


def _missing_record(missing: pd.DataFrame, found: dict[str, dict[str, int]], keep: pd.Series, policy: str) -> dict:
    """What the data record says of missing cells: per column, the texts found, and what was done."""
    dropped = missing.any(axis=1) if policy == "drop" else pd.Series(False, index=missing.index)
    return {
        "policy": policy,
        "cells": {c: int(k) for c, k in missing.sum().items() if k},
        "found": found,
        "rows_dropped": int(dropped.sum()),
        "cells_imputed": int(missing[keep].to_numpy().sum()) if policy == "impute" else 0,
    }


def _rows_with_one(count: int) -> str:
    return "1 row has one" if count == 1 else f"{count} rows have one"


def _cells(count: int) -> str:
    return f"{count} missing cell{'' if count == 1 else 's'}"


def _found_text(counts: dict[str, int]) -> str:
    """'?' alone, or each text with its count: '?' 12, '' 4, null 3."""
    names = {text: "null" if text == NULL else repr(text) for text in counts}
    if len(counts) == 1:
        return next(iter(names.values()))
    return ", ".join(f"{names[text]} {k}" for text, k in counts.items())


def _counts_text(counts: dict[str, int]) -> str:
    return ", ".join(f"{label!r} ({k} row{'' if k == 1 else 's'})" for label, k in counts.items())


def _label_text(value: object) -> str:
    """A label or category as text; a whole float (a number column pandas made float) reads as an int."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} in all)"
