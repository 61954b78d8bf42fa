"""lthpipe.datasets: every kind, splits, bad data, and the saved file; fast, offline."""

import gzip
import hashlib
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import sklearn.datasets._openml
import torch

from conftest import write_idx
from lthpipe.artifacts import ArtifactError
from lthpipe.datasets.base import MISSING_VALUES
from lthpipe.datasets import (
    KINDS,
    CsvSource,
    DataError,
    MnistSource,
    OpenmlSource,
    ParquetSource,
    SklearnSource,
    SplitSettings,
    estimated_mb,
    load_dataset,
    make_dataset,
    parse_source,
    save_dataset,
    source_files,
)
from lthpipe.datasets.splits import Facts, Table, one_hot_encode, vocabularies

UNSTRATIFIED = SplitSettings(stratify=False)


def write_csv(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def animals_csv(tmp_path: Path, n_per_class: int = 10) -> str:
    """Columns id, size, label; labels zebra, ant, moth in turn (not in sorted order)."""
    labels = ["zebra", "ant", "moth"]
    rows = [f"{i},{(i * 7) % 11},{labels[i % 3]}" for i in range(3 * n_per_class)]
    return write_csv(tmp_path / "animals.csv", ["id,size,label", *rows])


def row_ids(dataset, fold: int, split: str) -> list[int]:
    """Undo fold `fold`'s standardization of feature 0, which holds each row's id."""
    norm = dataset.record["normalization"][fold]
    x = getattr(dataset.folds[fold], f"x_{split}")[:, 0]
    return torch.round(x * norm["std"][0] + norm["mean"][0]).long().tolist()


def class_counts(dataset, fold: int = 0) -> dict[str, list[int]]:
    """label -> [train, val, test] rows, from the record."""
    return {label: [c["train"], c["val"], c["test"]] for label, c in dataset.record["classes"][fold].items()}


# --- registry -------------------------------------------------------------------


def test_the_registry_lists_every_kind_and_builds_settings_with_defaults():
    assert list(KINDS) == ["csv", "parquet", "sklearn", "openml", "mnist"]
    assert parse_source({"kind": "csv", "path": "x.csv", "categorical": ["a"]}) == CsvSource(
        path="x.csv", target=-1, header=None, delimiter=",", categorical=("a",), ignore=(),
        missing_values=MISSING_VALUES, missing="refuse", min_class_rows=0,
    )
    assert parse_source({"kind": "sklearn", "name": "swiss_roll"}) == SklearnSource("swiss_roll", 3000, 0.5, 6)
    with pytest.raises(ValueError, match="unknown dataset kind 'tsv'; known: csv, parquet, sklearn, openml, mnist"):
        parse_source({"kind": "tsv", "path": "x.tsv"})
    with pytest.raises(ValueError, match="exactly one of name and data_id"):
        OpenmlSource(name="iris", data_id=61)


def test_importing_the_registry_loads_neither_torch_nor_pandas():
    code = "import sys, lthpipe.datasets; print(sorted({'torch', 'pandas', 'sklearn'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_source_files_and_memory_estimates(tmp_path):
    path = tmp_path / "big.csv"
    path.write_bytes(b"0," * 2**19)  # 1 MiB
    assert source_files(CsvSource(path=str(path))) == [str(path)]
    assert source_files(SklearnSource("iris")) == []
    # 800 MB base + 4 MB loaded * (3 + folds)
    assert estimated_mb(CsvSource(path=str(path))) == 816
    assert estimated_mb(CsvSource(path=str(path)), folds=5) == 832
    # 70000 images of 784 float32 pixels = 209.35 MB, times 4, plus 800.
    assert estimated_mb(MnistSource()) == 1638
    local = write_idx(tmp_path / "idx", n_train=20, n_test=10)
    assert source_files(MnistSource(local_dir=str(local))) == [
        str(local / f"{name}.gz") for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    ]


# --- csv and parquet ------------------------------------------------------------


def test_csv_with_header_maps_string_labels_in_sorted_order(tmp_path):
    data = make_dataset("animals", CsvSource(path=animals_csv(tmp_path)), SplitSettings())
    record = data.record
    assert record["feature_names"] == ["id", "size"]
    assert (record["n_features"], record["n_classes"]) == (2, 3)
    # 10 rows per class; stratified 0.2/0.2 of 30 rows: 6 test, 6 validation, 18 training.
    assert class_counts(data) == {"ant": [6, 2, 2], "moth": [6, 2, 2], "zebra": [6, 2, 2]}
    assert {label: c["index"] for label, c in record["classes"][0].items()} == {"ant": 0, "moth": 1, "zebra": 2}
    assert (record["n_train"], record["n_val"], record["n_test"]) == ([18], [6], [6])
    assert record["labels"] == "label = column 'label', its 3 values in sorted order"
    # Row i's label is labels[i % 3]: zebra (2), ant (0), moth (1).
    fold = data.folds[0]
    assert fold.y_train.tolist() == [[2, 0, 1][i % 3] for i in row_ids(data, 0, "train")]
    assert fold.x_train.dtype == torch.float32 and fold.y_train.dtype == torch.int64
    assert torch.allclose(fold.x_train.mean(0), torch.zeros(2), atol=1e-6)
    assert torch.allclose(fold.x_train.std(0), torch.ones(2), atol=1e-6)
    json.dumps(record)


@pytest.mark.parametrize(
    ("first_line", "has_header"),
    [
        ("id,size,label", True),  # 'id' tops a numeric column
        ("0,5,x", False),  # every first cell of a numeric column is a number
    ],
)
def test_header_detection(tmp_path, first_line, has_header):
    rows = [first_line, *(f"{i},{i % 4},{'xy'[i % 2]}" for i in range(1, 20))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), UNSTRATIFIED)
    n_rows = data.record["n_train"][0] + data.record["n_val"][0] + data.record["n_test"][0]
    assert n_rows == (19 if has_header else 20)
    assert data.record["feature_names"] == (["id", "size"] if has_header else ["x0", "x1"])


def test_csv_without_header_takes_the_target_by_position_and_a_delimiter(tmp_path):
    rows = [f"{'ab'[i % 2]};{i};{i % 3}" for i in range(20)]
    source = CsvSource(path=write_csv(tmp_path / "d.csv", rows), target=0, header=False, delimiter=";")
    data = make_dataset("d", source, SplitSettings())
    assert data.record["feature_names"] == ["x1", "x2"]  # named by position in the file
    assert class_counts(data) == {"a": [6, 2, 2], "b": [6, 2, 2]}


def test_numeric_labels_sort_in_numeric_order(tmp_path):
    rows = ["f,label", *(f"{i},{[10, 2, -1][i % 3]}" for i in range(30))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), SplitSettings())
    assert [c["index"] for c in (data.record["classes"][0][k] for k in ("-1", "2", "10"))] == [0, 1, 2]


def test_parquet_gives_the_same_dataset_as_the_csv_it_came_from(tmp_path):
    csv_path = animals_csv(tmp_path)
    parquet_path = tmp_path / "animals.parquet"
    pd.read_csv(csv_path).to_parquet(parquet_path)
    from_csv = make_dataset("a", CsvSource(path=csv_path), SplitSettings())
    from_parquet = make_dataset("a", ParquetSource(path=str(parquet_path)), SplitSettings())
    for name, tensor in from_csv.folds[0].tensors().items():
        assert torch.equal(tensor, getattr(from_parquet.folds[0], name)), name
    assert from_parquet.record["kind"] == "parquet"
    assert from_parquet.record["classes"] == from_csv.record["classes"]


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec

    def without_pyarrow(name, *args):
        return None if name == "pyarrow" else find_spec(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_pyarrow)
    with pytest.raises(ImportError, match=r"pip install 'lthpipe\[parquet\]'"):
        make_dataset("a", ParquetSource(path=str(tmp_path / "a.parquet")), SplitSettings())


# --- categorical, standardization -----------------------------------------------


def test_one_hot_vocabulary_comes_from_the_training_rows():
    facts = Facts(kind="csv", source="t.csv", feature_names=["a"], class_names=["0", "1"], labels="")
    table = Table(
        facts=facts,
        x=torch.tensor([[1.0], [2.0], [3.0], [4.0]]),
        y=torch.tensor([0, 1, 0, 1]),
        categorical={"color": ["red", "blue", "green", "red"]},
    )
    x, names = one_hot_encode(table, vocabularies(table, train=torch.tensor([0, 1])))
    assert names == ["a", "color=blue", "color=red"]  # green is not in training: no column
    assert x.tolist() == [[1, 0, 1], [2, 1, 0], [3, 0, 0], [4, 0, 1]]  # green's row is all zeros


def test_categorical_columns_by_name_or_position_give_column_value_features(tmp_path):
    rows = ["size,color,shape,label", *(f"{i},{'rgb'[i % 3]},{'sq'[i % 2]},{i % 2}" for i in range(40))]
    source = CsvSource(path=write_csv(tmp_path / "d.csv", rows), categorical=["color", 2])
    data = make_dataset("d", source, SplitSettings(resplits=3))
    assert data.record["feature_names"] == ["size", "color=b", "color=g", "color=r", "shape=q", "shape=s"]
    assert [fold.n_features for fold in data.folds] == [6, 6, 6]  # one vocabulary for every fold


def test_constant_columns_stay_finite_after_standardization(tmp_path):
    rows = ["a,const,label", *(f"{i},7,{i % 2}" for i in range(20))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), SplitSettings())
    for x in (data.folds[0].x_train, data.folds[0].x_val, data.folds[0].x_test):
        assert torch.isfinite(x).all()
        assert x[:, 1].eq(0).all()
    assert data.record["normalization"][0]["std"][1] == pytest.approx(1e-8)


# --- splits ---------------------------------------------------------------------


def test_stratified_shares_are_exact_with_largest_remainder_rounding(tmp_path):
    # 7, 7 and 6 rows; test 0.25 of 20 = 5: quotas 1.75, 1.75, 1.5 -> 1, 1, 1 plus one
    # each for the two largest remainders. Validation 5 of the 15 left (5 each):
    # quotas 1.67 -> 1, 1, 1 plus one each for the lower indices on the tie.
    labels = ["a"] * 7 + ["b"] * 7 + ["c"] * 6
    rows = ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))]
    split = SplitSettings(val_fraction=0.25, test_fraction=0.25)
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), split)
    assert class_counts(data) == {"a": [3, 2, 2], "b": [3, 2, 2], "c": [4, 1, 1]}


def test_stratified_splits_keep_class_proportions(tmp_path):
    labels = ["a"] * 50 + ["b"] * 30 + ["c"] * 20
    rows = ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))]
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), SplitSettings(resplits=2))
    for fold in (0, 1):
        assert class_counts(data, fold) == {"a": [30, 10, 10], "b": [18, 6, 6], "c": [12, 4, 4]}


def test_kfold_test_sets_are_disjoint_and_cover_every_row(tmp_path):
    labels = ["a"] * 24 + ["b"] * 16 + ["c"] * 8
    rows = ["id,label", *(f"{i},{label}" for i, label in enumerate(labels))]
    split = SplitSettings(scheme="kfold", resplits=4)
    data = make_dataset("d", CsvSource(path=write_csv(tmp_path / "d.csv", rows)), split)
    tests = [row_ids(data, k, "test") for k in range(4)]
    assert sorted(sum(tests, [])) == list(range(48))
    for k in range(4):
        assert class_counts(data, k) == {"a": [13, 5, 6], "b": [9, 3, 4], "c": [4, 2, 2]}
        assert set(row_ids(data, k, "train")) | set(row_ids(data, k, "val")) == set(range(48)) - set(tests[k])
    # val_fraction 0.2 of 48 rows = 10 validation rows; the test fraction is one fold in four.
    assert data.record["fractions"] == {"val": 0.2, "test": 0.25}
    assert (data.record["scheme"], data.record["folds"]) == ("kfold", 4)


def test_shuffle_fold_zero_is_the_single_split_and_later_folds_differ():
    source = SklearnSource("iris")
    single = make_dataset("iris", source, SplitSettings(seed=3))
    folds = make_dataset("iris", source, SplitSettings(seed=3, resplits=3))
    for name, tensor in single.folds[0].tensors().items():
        assert torch.equal(tensor, getattr(folds.folds[0], name)), name
    assert not torch.equal(folds.folds[0].x_test, folds.folds[1].x_test)
    assert folds.record["n_test"] == [30, 30, 30]


def test_splits_depend_only_on_the_seed():
    source = SklearnSource("swiss_roll", n_samples=300, n_classes=3)
    torch.manual_seed(1)
    first = make_dataset("s", source, SplitSettings(seed=0))
    torch.manual_seed(2)  # the global RNG plays no part
    again = make_dataset("s", source, SplitSettings(seed=0))
    other = make_dataset("s", source, SplitSettings(seed=1))
    for name, tensor in first.folds[0].tensors().items():
        assert torch.equal(tensor, getattr(again.folds[0], name)), name
    assert not torch.equal(first.folds[0].y_test, other.folds[0].y_test)


# --- sklearn --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "n_features", "n_classes", "n_rows"),
    [
        ("iris", 4, 3, 150),
        ("wine", 13, 3, 178),
        ("breast_cancer", 30, 2, 569),
        ("digits", 64, 10, 1797),
        ("diabetes", 10, 2, 442),
        ("swiss_roll", 3, 6, 3000),
    ],
)
def test_every_bundled_sklearn_dataset_loads(name, n_features, n_classes, n_rows):
    record = make_dataset(name, SklearnSource(name), SplitSettings()).record
    assert (record["n_features"], record["n_classes"]) == (n_features, n_classes)
    assert record["n_train"][0] + record["n_val"][0] + record["n_test"][0] == n_rows
    assert record["image_shape"] == ([8, 8] if name == "digits" else None)


def test_swiss_roll_classes_are_balanced():
    data = make_dataset("s", SklearnSource("swiss_roll", n_samples=600, n_classes=4), SplitSettings())
    assert class_counts(data) == {str(c): [90, 30, 30] for c in range(4)}


def test_diabetes_labels_use_each_folds_training_median():
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    features, target = torch.from_numpy(bunch.data).float(), torch.from_numpy(bunch.target).float()
    data = make_dataset("diabetes", SklearnSource("diabetes"), SplitSettings(scheme="kfold", resplits=3))
    for k, fold in enumerate(data.folds):
        norm = data.record["normalization"][k]
        mean, std = torch.tensor(norm["mean"]), torch.tensor(norm["std"])

        def targets(x):  # the rows' targets, found by undoing the standardization
            return target[torch.cdist(x * std + mean, features).argmin(1)]

        median = targets(fold.x_train).median()
        for x, y in ((fold.x_train, fold.y_train), (fold.x_val, fold.y_val), (fold.x_test, fold.y_test)):
            assert torch.equal(y, (targets(x) > median).long())


# --- openml ---------------------------------------------------------------------


def gz(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data))


def openml_cache(home: Path, missing_a: tuple[int, ...] = ()) -> None:
    """What fetch_openml caches for a tiny dataset 'tiny' (data_id 42): its JSON answers
    and ARFF file, each at <home>/openml/openml.org/<url path>.gz. Rows `missing_a`
    have ARFF's missing value, '?', in column a."""
    site = home / "openml" / "openml.org"
    api = site / "api" / "v1" / "json" / "data"
    arff = "@RELATION tiny\n@ATTRIBUTE a NUMERIC\n@ATTRIBUTE color {red,green,blue}\n@ATTRIBUTE class {no,yes}\n@DATA\n"
    a = ["?" if i in missing_a else str(i / 2) for i in range(30)]
    arff += "".join(f"{a[i]},{['red', 'green', 'blue'][i % 3]},{['yes', 'no'][i % 2]}\n" for i in range(30))
    gz(site / "data" / "v1" / "download" / "4242" / "tiny.arff.gz", arff.encode())
    description = {
        "id": "42", "name": "tiny", "version": "1", "format": "ARFF", "status": "active", "description": "tiny",
        "url": "https://api.openml.org/data/v1/download/4242/tiny.arff",
        "md5_checksum": hashlib.md5(arff.encode()).hexdigest(),
    }
    gz(api / "42.gz", json.dumps({"data_set_description": description}).encode())
    columns = [("a", "numeric"), ("color", "nominal"), ("class", "nominal")]
    features = [
        {"index": str(i), "name": name, "data_type": kind, "is_target": str(name == "class").lower(),
         "is_ignore": "false", "is_row_identifier": "false", "number_of_missing_values": "0"}
        for i, (name, kind) in enumerate(columns)
    ]
    gz(api / "features" / "42.gz", json.dumps({"data_features": {"feature": features}}).encode())
    qualities = {"data_qualities": {"quality": [{"name": "NumberOfInstances", "value": "30.0"}]}}
    gz(api / "qualities" / "42.gz", json.dumps(qualities).encode())
    listing = {"data": {"dataset": [{"did": 42, "name": "tiny", "version": 1, "status": "active"}]}}
    gz(api / "list" / "data_name" / "tiny" / "limit" / "2" / "status" / "active" / ".gz", json.dumps(listing).encode())


@pytest.fixture
def offline(monkeypatch):
    """Any network access fails, as on a machine without internet."""

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("network disabled by the test")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(sklearn.datasets._openml, "urlopen", refuse)


def test_openml_loads_from_the_cache_without_network(tmp_path, offline):
    openml_cache(tmp_path / "home")
    source = OpenmlSource(name="tiny", data_home=str(tmp_path / "home"), categorical=["color"])
    data = make_dataset("tiny", source, SplitSettings())
    assert data.record["feature_names"] == ["a", "color=blue", "color=green", "color=red"]
    assert class_counts(data) == {"no": [9, 3, 3], "yes": [9, 3, 3]}  # the default target, 'class'
    # A named target instead of the default, found by data_id.
    by_id = OpenmlSource(data_id=42, target="color", data_home=str(tmp_path / "home"), categorical=["class"])
    data = make_dataset("tiny", by_id, SplitSettings())
    assert data.record["feature_names"] == ["a", "class=no", "class=yes"]
    assert class_counts(data) == {color: [6, 2, 2] for color in ("blue", "green", "red")}


def test_openml_sources_take_the_table_settings(tmp_path, offline):
    openml_cache(tmp_path / "home", missing_a=(4, 7))
    home = str(tmp_path / "home")
    with pytest.raises(DataError, match=r"column 'a' has 2 missing cells \(null\); 2 rows have one"):
        make_dataset("tiny", OpenmlSource(name="tiny", data_home=home, ignore=["color"]), SplitSettings())
    data = make_dataset("tiny", OpenmlSource(name="tiny", data_home=home, ignore=["color"], missing="impute"),
                        SplitSettings())
    assert (data.record["feature_names"], data.record["ignored"]) == (["a"], ["color"])
    assert data.record["missing"]["cells"] == {"a": 2} and data.record["missing"]["cells_imputed"] == 2
    with pytest.raises(DataError, match="min_class_rows: 16 leaves 0 classes of column 'class' \\(kept: none;"):
        make_dataset("tiny", OpenmlSource(name="tiny", data_home=home, ignore=["color"], missing="drop",
                                          min_class_rows=16), SplitSettings())


@pytest.mark.filterwarnings("ignore:A network error occurred")  # scikit-learn's one retry
def test_openml_offline_without_cache_says_what_to_fetch_and_where(tmp_path, offline):
    source = OpenmlSource(data_id=42, data_home=str(tmp_path / "home"))
    with pytest.raises(DataError) as err:
        make_dataset("tiny", source, SplitSettings())
    message = str(err.value)
    assert "OpenML dataset data_id=42: not in the cache" in message
    assert f"{tmp_path / 'home'}/openml" in message
    assert "fetch_openml(data_id=42, data_home='DIR')" in message
    assert "kind: csv" in message


# --- mnist ----------------------------------------------------------------------


def test_mnist_from_local_idx_files(tmp_path):
    local = write_idx(tmp_path / "idx", n_train=300, n_test=120)
    source = MnistSource(root=str(tmp_path / "tv"), local_dir=str(local), n_train=200, n_val=50, n_test=100)
    data = make_dataset("mnist", source, SplitSettings(seed=0))
    record, fold = data.record, data.folds[0]
    assert (record["n_train"], record["n_val"], record["n_test"], record["n_features"]) == ([200], [50], [100], 784)
    assert record["image_shape"] == [28, 28] and record["feature_names"][29] == "pixel_1_1"
    assert record["fractions"] == {"val": 50 / 350, "test": 100 / 350}
    assert isinstance(record["normalization"][0]["mean"], float)  # one scalar for all pixels
    assert (tmp_path / "tv" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert fold.x_train.mean().item() == pytest.approx(0, abs=1e-5)
    assert fold.x_train.std().item() == pytest.approx(1, abs=1e-5)


def test_mnist_refuses_resplits(tmp_path):
    with pytest.raises(DataError, match="resplits=2, but MNIST has one official test set; set resplits: 1"):
        make_dataset("mnist", MnistSource(root=str(tmp_path)), SplitSettings(resplits=2))


def test_mnist_with_missing_files_names_the_config_key(tmp_path):
    (tmp_path / "empty").mkdir()
    source = MnistSource(root=str(tmp_path / "tv"), local_dir=str(tmp_path / "empty"))
    with pytest.raises(DataError, match=r"datasets\.digits\.source\.local_dir=.* lacks train-images-idx3-ubyte"):
        make_dataset("digits", source, SplitSettings())


def test_mnist_without_files_or_download_names_the_config_key(tmp_path):
    source = MnistSource(root=str(tmp_path / "tv"), download=False)
    with pytest.raises(DataError, match=r"set datasets\.digits\.source\.local_dir in the config"):
        make_dataset("digits", source, SplitSettings())


# --- bad data -------------------------------------------------------------------


def refused(source, split=SplitSettings()) -> str:
    with pytest.raises(DataError) as err:
        make_dataset("d", source, split)
    return str(err.value)


def test_a_missing_file_is_refused(tmp_path):
    message = refused(CsvSource(path=str(tmp_path / "nope.csv")))
    assert message.startswith(f"{tmp_path / 'nope.csv'}: no such file") and "fix path:" in message


def test_an_unparseable_csv_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a,b,label", "1,2,x", "1,2,3,4,5"])
    message = refused(CsvSource(path=path))
    assert message.startswith(f"{path}: not a CSV file that can be parsed with delimiter ','")
    assert "Expected 3 fields in line 3, saw 5" in message


def test_a_parquet_source_pointing_at_a_csv_is_refused(tmp_path):
    path = animals_csv(tmp_path)
    message = refused(ParquetSource(path=path))
    assert message.startswith(f"{path}: not a Parquet file") and "(csv)" in message


def test_an_absent_target_column_lists_the_columns(tmp_path):
    path = animals_csv(tmp_path)
    message = refused(CsvSource(path=path, target="species"))
    assert message == f"{path}: no target column named 'species'; the columns are 'id', 'size', 'label'. Fix target:."
    message = refused(CsvSource(path=path, target=3))
    assert message.startswith(
        f"{path}: target column position 3 is out of range: there are 3 columns ('id', 'size', 'label')"
    )


def test_non_numeric_features_are_refused_with_the_categorical_fix(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["size,color,label", *(f"{i},{'rg'[i % 2]},{i % 2}" for i in range(20))])
    message = refused(CsvSource(path=path))
    assert message == (
        f"{path}: non-numeric feature columns: 'color' holds text such as 'g', 'r'. List them under categorical: "
        "['color'] to one-hot encode them, or leave them out with ignore: ['color']."
    )


def test_missing_values_are_refused_by_default_naming_columns_counts_and_texts(tmp_path):
    rows = ["a,b,label", *(f"{'' if i == 3 else i},{'NA' if i in (3, 5) else 1},{i % 2}" for i in range(20))]
    path = write_csv(tmp_path / "d.csv", rows)
    message = refused(CsvSource(path=path))
    assert message == (
        f"{path}: missing values: column 'a' has 1 missing cell (''), column 'b' has 2 missing cells ('NA'); "
        "2 rows have one. Set missing: drop to leave those rows out, or missing: impute to fill the cells from each "
        "fold's training rows (a numeric column's median, a categorical column's most frequent value), or fill them "
        "in the file."
    )


def test_a_single_class_is_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a,label", *(f"{i},same" for i in range(10))])
    message = refused(CsvSource(path=path))
    assert message.startswith(f"{path}: target column 'label' holds a single class ['same']")


def test_a_class_too_small_to_stratify_is_named(tmp_path):
    labels = ["a"] * 20 + ["rare"] * 2
    path = write_csv(tmp_path / "d.csv", ["x,label", *(f"{i},{label}" for i, label in enumerate(labels))])
    message = refused(CsvSource(path=path))
    assert message == (
        f"{path}: class 'rare' has only 2 rows, too few for a stratified split: it would get no test rows. "
        "Give each class at least 5 rows, leave out the classes with fewer (min_class_rows: 5), or set stratify: false."
    )
    make_dataset("d", CsvSource(path=path), UNSTRATIFIED)  # the fix works


def test_too_few_rows_for_the_splits_are_refused(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["x,label", "1,a", "2,b"])
    message = refused(CsvSource(path=path), UNSTRATIFIED)
    assert message.startswith(
        f"{path}: 2 rows are too few to split: they give 0 test, 0 validation and 2 training rows, and every "
        "split needs at least one row (test_fraction 0.2 needs 3 rows for one test row, val_fraction 0.2 needs 3"
    )


# --- the saved file -------------------------------------------------------------


def test_save_and_load_round_trip_every_fold(tmp_path):
    data = make_dataset("iris", SklearnSource("iris"), SplitSettings(resplits=2))
    path = tmp_path / "data" / "data.pt"
    save_dataset(path, data, {"settings": {"seed": 0}})
    loaded = load_dataset(path, "iris")
    assert len(loaded.folds) == 2
    for fold, again in zip(data.folds, loaded.folds):
        for name, tensor in fold.tensors().items():
            assert torch.equal(tensor, getattr(again, name)), name
    assert set(loaded.record["tensors"]) == {f"fold{k}.{n}" for k in (0, 1) for n in data.folds[0].tensors()}
    assert (loaded.record["stage"], loaded.record["settings"], loaded.record["classes"]) == (
        "data", {"seed": 0}, data.record["classes"]
    )
    with pytest.raises(ArtifactError, match="expected 'wine'"):
        load_dataset(path, "wine")
