"""Real-world tables: missing cells (which texts, refuse/drop/impute), ignored
columns, rare classes, and a refused dataset's message in Snakemake's output."""

from __future__ import annotations

import os
import statistics
from dataclasses import fields, replace
from pathlib import Path

import pandas as pd
import pytest
from pandas._libs.parsers import STR_NA_VALUES

from lthpipe.config import load_schema
from lthpipe.datasets import CsvSource, DataError, ParquetSource, SplitSettings, make_dataset
from lthpipe.datasets.base import MISSING_POLICIES, MISSING_VALUES, TableSettings
from lthpipe.datasets.frames import NULL
from workflow_helpers import snakemake, write_config

SPLIT = SplitSettings()  # shuffle, one fold, stratified, 0.2 / 0.2


def write_csv(path: Path, lines: list[str]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def refused(source: CsvSource | ParquetSource, split: SplitSettings = SPLIT) -> str:
    with pytest.raises(DataError) as err:
        make_dataset("d", source, split)
    return str(err.value)


def feature(dataset, fold: int, split: str, j: int) -> list[float]:
    """Feature j of one split of one fold, with the fold's standardization undone."""
    norm = dataset.record["normalization"][fold]
    x = getattr(dataset.folds[fold], f"x_{split}")[:, j]
    return (x * norm["std"][j] + norm["mean"][j]).tolist()


def row_ids(dataset, fold: int, split: str) -> list[int]:
    """Feature 0 holds each row's id in these tables."""
    return [round(v) for v in feature(dataset, fold, split, 0)]


def n_rows(record: dict, fold: int = 0) -> int:
    return record["n_train"][fold] + record["n_val"][fold] + record["n_test"][fold]


def roles(tmp_path: Path, labels: list[str], split: SplitSettings) -> list[dict[str, list[int]]]:
    """Per fold, the row ids of each split. They depend on the labels, the row count and
    the seed only, so a table with these labels and other features splits the same way."""
    path = write_csv(tmp_path / "ids.csv", ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))])
    data = make_dataset("ids", CsvSource(path=path), split)
    return [{s: row_ids(data, k, s) for s in ("train", "val", "test")} for k in range(len(data.folds))]


# --- settings -------------------------------------------------------------------


def test_the_schema_agrees_with_the_table_settings():
    defs = load_schema()["$defs"]
    for field in fields(TableSettings):
        default = defs[field.name]["default"]
        assert (tuple(default) if isinstance(default, list) else default) == field.default, field.name
        for kind in ("csv", "parquet", "openml"):
            assert defs[f"source_{kind}"]["properties"][field.name] == {"$ref": f"#/$defs/{field.name}"}
    assert defs["missing"]["enum"] == list(MISSING_POLICIES)
    # The default: pandas' NA texts (read as missing before missing_values existed) and '?'.
    assert set(MISSING_VALUES) == set(STR_NA_VALUES) | {"?"} and len(MISSING_VALUES) == len(set(MISSING_VALUES))


def test_settings_out_of_range_are_refused():
    with pytest.raises(ValueError, match="unknown missing: 'fill'; known: refuse, drop, impute"):
        CsvSource(path="x.csv", missing="fill")
    with pytest.raises(ValueError, match="min_class_rows must be 0"):
        CsvSource(path="x.csv", min_class_rows=-1)


# --- missing cells --------------------------------------------------------------


def test_a_numeric_column_with_question_marks_is_numeric_with_missing_cells(tmp_path):
    rows = [f"{i},{'?' if i in (2, 9, 14) else i % 5},{'ab'[i % 2]}" for i in range(30)]
    path = write_csv(tmp_path / "d.csv", rows)  # headerless: x0, x1, label x2
    message = refused(CsvSource(path=path))
    assert message.startswith(f"{path}: missing values: column 'x1' has 3 missing cells ('?'); 3 rows have one. ")
    assert "missing: drop" in message and "missing: impute" in message
    assert "categorical" not in message.replace("categorical column's most frequent", "")
    data = make_dataset("d", CsvSource(path=path, missing="drop"), SPLIT)
    assert data.record["feature_names"] == ["x0", "x1"]  # numbers, not one-hot categories


def test_texts_among_numbers_are_shown_with_the_missing_values_fix(tmp_path):
    # '-' twice and 'unknown' once among numbers; the mostly-text column 'c' is categorical.
    b = {4: "-", 8: "-", 6: "unknown"}
    rows = ["a,b,c,label", *(f"{i},{b.get(i, i)},{'xyz'[i % 3]},{i % 2}" for i in range(20))]
    path = write_csv(tmp_path / "d.csv", rows)
    message = refused(CsvSource(path=path))
    assert message == (
        f"{path}: non-numeric feature columns: 'b' holds text such as '-', 'unknown' in 3 of its 20 cells, the others "
        "numbers; 'c' holds text such as 'x', 'y', 'z'. List them under categorical: ['b', 'c'] to one-hot encode "
        "them, or leave them out with ignore: ['b', 'c']. If '-', 'unknown' mark missing cells, add them to "
        "missing_values: instead."
    )
    source = CsvSource(path=path, categorical=["c"], missing_values=["-", "unknown"], missing="drop")
    assert make_dataset("d", source, SPLIT).record["missing"]["found"] == {"b": {"-": 2, "unknown": 1}}


def test_parquet_nulls_and_texts_are_missing_cells_alike(tmp_path):
    frame = pd.DataFrame({
        "a": [None if i == 2 else float(i) for i in range(20)],  # a float column with a null
        "b": ["?" if i == 5 else None if i == 6 else str(i % 3) for i in range(20)],  # text with '?' and a null
        "label": [i % 2 for i in range(20)],
    })
    frame.to_parquet(tmp_path / "d.parquet")
    source = ParquetSource(path=str(tmp_path / "d.parquet"))
    assert refused(source).startswith(
        f"{tmp_path / 'd.parquet'}: missing values: column 'a' has 1 missing cell (null), column 'b' has 2 missing "
        "cells (null 1, '?' 1); 3 rows have one. "
    )
    record = make_dataset("d", replace(source, missing="drop"), SPLIT).record
    assert record["missing"]["found"] == {"a": {NULL: 1}, "b": {"?": 1, NULL: 1}}
    assert (record["feature_names"], n_rows(record)) == (["a", "b"], 17)


def test_missing_drop_drops_exactly_the_rows_with_a_missing_cell(tmp_path):
    # 'a' misses rows 3 and 7 ('?'), 'b' rows 7 (' NA ', spaces stripped) and 11 (''): rows 3, 7, 11 go.
    cell_a = {3: "?", 7: "?"}
    cell_b = {7: " NA ", 11: ""}
    rows = ["id,a,b,label", *(f"{i},{cell_a.get(i, i % 4)},{cell_b.get(i, i % 3)},{i % 2}" for i in range(40))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows), missing="drop"), SPLIT)
    record = data.record
    assert record["missing"] == {
        "policy": "drop",
        "cells": {"a": 2, "b": 2},
        "found": {"a": {"?": 2}, "b": {"": 1, "NA": 1}},
        "rows_dropped": 3,
        "cells_imputed": 0,
    }
    assert record["dropped"] == {"rows": 3, "why": "rows with missing cells in 'a' (2), 'b' (2)"}
    assert n_rows(record) == 37
    kept = sorted(sum((row_ids(data, 0, s) for s in ("train", "val", "test")), []))
    assert kept == [i for i in range(40) if i not in (3, 7, 11)]


def test_a_missing_label_is_never_imputed(tmp_path):
    rows = ["a,label", *(f"{i},{'?' if i == 5 else i % 2}" for i in range(20))]
    path = write_csv(tmp_path / "d.csv", rows)
    message = refused(CsvSource(path=path, missing="impute"))
    assert message == (
        f"{path}: the target column 'label' has 1 missing cell ('?'), and labels are never imputed. Set missing: "
        "drop to leave those rows out, or fill them in the file."
    )
    assert "impute" not in refused(CsvSource(path=path))  # nor offered as the fix
    assert n_rows(make_dataset("d", CsvSource(path=path, missing="drop"), SPLIT).record) == 19


def test_imputed_numbers_are_the_median_of_the_folds_training_rows_alone(tmp_path):
    labels = ["ab"[i % 2] for i in range(40)]
    (split,) = roles(tmp_path, labels, SPLIT)
    # Training rows hold small values, validation and test rows huge ones: a median
    # that saw a validation or test row would be far off.
    gaps = {split["train"][0], split["val"][0], split["test"][0]}
    value = {i: 1e6 + i for i in split["val"] + split["test"]} | {i: float(i % 7) for i in split["train"]}
    rows = ["id,v,label", *(f"{i},{'?' if i in gaps else value[i]},{labels[i]}" for i in range(40))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows), missing="impute"), SPLIT)
    median = statistics.median(value[i] for i in split["train"] if i not in gaps)  # 23 values: the middle one
    assert data.record["missing"]["imputed_with"] == [{"v": median}]
    assert (data.record["missing"]["cells_imputed"], n_rows(data.record)) == (3, 40)
    for part in ("train", "val", "test"):
        for i, v in zip(row_ids(data, 0, part), feature(data, 0, part, 1)):
            assert v == pytest.approx(median if i in gaps else value[i], rel=1e-6), (part, i)


def test_each_fold_imputes_from_its_own_training_rows(tmp_path):
    labels = ["ab"[i % 2] for i in range(30)]
    split = SplitSettings(scheme="kfold", resplits=3)
    folds = roles(tmp_path, labels, split)
    value = {i: float((i * 37) % 101) for i in range(30)}
    rows = ["id,v,label", *(f"{i},{'' if i == 0 else value[i]},{labels[i]}" for i in range(30))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows), missing="impute"), split)
    medians = [statistics.median(value[i] for i in fold["train"] if i != 0) for fold in folds]
    assert len(set(medians)) == 3  # the data tells the folds apart
    assert data.record["missing"]["imputed_with"] == [{"v": m} for m in medians]
    for k, fold in enumerate(folds):
        part = next(p for p in ("train", "val", "test") if 0 in fold[p])
        assert feature(data, k, part, 1)[row_ids(data, k, part).index(0)] == pytest.approx(medians[k], rel=1e-6)


def test_an_imputed_category_is_the_most_frequent_of_the_training_rows(tmp_path):
    labels = ["ab"[i % 2] for i in range(40)]
    (split,) = roles(tmp_path, labels, SPLIT)
    train, held_out = split["train"], split["val"] + split["test"]
    # Training: 13 red, 10 blue, 1 missing. Validation and test: blue, 1 missing. All
    # rows together hold more blue (25) than red (13).
    color = {i: "red" for i in train[:13]} | {i: "blue" for i in train[13:23] + held_out[1:]}
    gaps = {train[23], held_out[0]}
    rows = ["id,color,label", *(f"{i},{color.get(i, '?')},{labels[i]}" for i in range(40))]
    source = CsvSource(path=write_csv(tmp_path / "d.csv", rows), categorical=["color"], missing="impute")
    data = make_dataset("d", source, SPLIT)
    assert data.record["feature_names"] == ["id", "color=blue", "color=red"]
    assert data.record["missing"]["imputed_with"] == [{"color": "red"}]
    for part in ("train", "val", "test"):
        for i, blue, red in zip(row_ids(data, 0, part), feature(data, 0, part, 1), feature(data, 0, part, 2)):
            expected = "red" if i in gaps else color[i]
            assert (round(blue), round(red)) == ((0, 1) if expected == "red" else (1, 0)), (part, i)


# --- ignored columns ------------------------------------------------------------


def test_ignored_columns_are_not_features(tmp_path):
    rows = [f"{'?' if i == 3 else i},n{i},{i % 5},{'rg'[i % 2]},{i % 2}" for i in range(20)]
    rows = ["id,name,size,color,label", *rows]
    source = CsvSource(path=write_csv(tmp_path / "d.csv", rows), ignore=["id", 1], categorical=["color"])
    record = make_dataset("d", source, SPLIT).record
    assert record["feature_names"] == ["size", "color=g", "color=r"]
    assert record["ignored"] == ["id", "name"]
    assert record["missing"]["cells"] == {}  # the '?' in an ignored column is no missing cell


def test_ignoring_the_target_or_an_absent_column_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["id,size,label", *(f"{i},{i % 5},{i % 2}" for i in range(20))])
    assert refused(CsvSource(path=path, ignore=[-1])) == (
        f"{path}: column 'label' is the target; remove it from ignore: (or set target: to the label column)"
    )
    assert refused(CsvSource(path=path, ignore=["ID"])) == (
        f"{path}: no ignore column named 'ID'; the columns are 'id', 'size', 'label'. Fix ignore:."
    )
    assert refused(CsvSource(path=path, ignore=["id", "size"])) == (
        f"{path}: no feature columns besides the target 'label' once ignore: leaves out 'id', 'size'"
    )


# --- rare classes ---------------------------------------------------------------


def test_classes_with_fewer_than_min_class_rows_are_left_out_and_recorded(tmp_path):
    labels = ["a"] * 20 + ["b"] * 15 + ["c"] * 5 + ["omL"] * 2 + ["imL"] * 3
    rows = ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows), min_class_rows=5), SPLIT)
    record = data.record
    assert record["left_out_classes"] == {"imL": 3, "omL": 2}
    assert list(record["classes"][0]) == ["a", "b", "c"]  # c has exactly 5 rows: kept
    assert record["n_classes"] == 3 and n_rows(record) == 40
    assert {label: c["train"] + c["val"] + c["test"] for label, c in record["classes"][0].items()} == {
        "a": 20, "b": 15, "c": 5
    }
    assert record["dropped"] == {"rows": 5, "why": "classes with fewer than 5 rows: 'imL' (3 rows), 'omL' (2 rows)"}
    assert record["labels"] == (
        "label = column 'label', its 3 values in sorted order (2 classes with fewer than 5 rows left out)"
    )
    kept = sorted(sum((row_ids(data, 0, s) for s in ("train", "val", "test")), []))
    assert kept == list(range(40))


def test_min_class_rows_that_leaves_one_class_is_refused(tmp_path):
    labels = ["a"] * 20 + ["b"] * 15
    path = write_csv(tmp_path / "d.csv", ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))])
    assert refused(CsvSource(path=path, min_class_rows=16)) == (
        f"{path}: min_class_rows: 16 leaves 1 class of column 'label' (kept: 'a' (20 rows); left out: 'b' (15 rows)); "
        "a classifier needs two or more. Lower min_class_rows."
    )


# --- a refused dataset in Snakemake's output ------------------------------------


@pytest.mark.workflow
@pytest.mark.parametrize("worker", ["1", "0"])  # in a child of the warm worker, and in the job's own process
def test_a_refused_dataset_shows_its_message_without_a_traceback(tmp_path, worker):
    rows = [f"{i},{'?' if i in (2, 9, 14) else i % 5},{'ab'[i % 2]}" for i in range(30)]
    write_csv(tmp_path / "data" / "bad.csv", rows)
    entry = {"source": {"kind": "csv", "path": "data/bad.csv"}, "hidden": [4], "seeds": [0], "fractions": [1.0]}
    write_config(tmp_path, {"device": "cpu", "datasets": {"bad": entry}})
    env = {**os.environ, "LTHPIPE_WORKER": worker}
    result = snakemake(tmp_path, "--cores", "1", "artifacts/bad/data/data.json", check=False, env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "lthpipe: refused dataset 'bad': data/bad.csv: missing values: column 'x1' has 3 missing cells ('?'); "
        "3 rows have one. Set missing: drop"
    ) in output
    assert "Traceback" not in output
    assert not (tmp_path / "artifacts" / "bad" / "data" / "data.pt").exists()
    assert not (tmp_path / "artifacts" / "bad" / "data" / "data.json").exists()
    # The job's log, which Snakemake prints too (show-failed-logs), holds the message alone.
    log = (tmp_path / "artifacts" / "bad" / "logs" / "make_data.log").read_text()
    assert "refused: data/bad.csv: missing values: column 'x1'" in log and "Traceback" not in log
