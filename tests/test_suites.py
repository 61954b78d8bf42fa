"""Suites (lthpipe.suites), planted irrelevant inputs (datasets/planted.py, lthpipe.planted)
and the cross-dataset answer (lthpipe.suite_report), without Snakemake: expansion of
folders, globs and id lists with per-member settings, refused names, planted columns
reproducible and blind to the labels, removal shares on a constructed mask, and a tiny
suite's numbers against a hand computation."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path

import pytest
import torch
import yaml

from lthpipe.artifacts import read_json
from lthpipe.config import ConfigError, resolve
from lthpipe.datasets import CsvSource, DataSettings, SplitSettings, make_dataset
from lthpipe.datasets.base import PlantedSettings
from lthpipe.datasets.planted import plant, row_order
from lthpipe.datasets.splits import Facts, Table, tabular_dataset
from lthpipe.planted import auc, removal_shares
from lthpipe.stages import analyses
from lthpipe.stages import data as data_stages
from lthpipe.suite_report import (
    member_record,
    ranks,
    removable,
    spearman,
    suite_answer,
    suite_markdown,
)
from lthpipe.suites import member_key, openml_list, resolve_suites

REPO = Path(__file__).resolve().parents[1]


def write_table(path: Path, rows: int = 40, header: str = "a,b,label", seed: int = 0) -> str:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(rows, 2, generator=gen)
    lines = [header] if header else []
    lines += [f"{a:.3f},{b:.3f},{int(a > 0)}" for a, b in x.tolist()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


@pytest.fixture
def folder(tmp_path, monkeypatch) -> Path:
    """tables/ with two CSVs and a text file, the working directory being tmp_path."""
    monkeypatch.chdir(tmp_path)
    write_table(tmp_path / "tables" / "Alpha-One.csv")
    write_table(tmp_path / "tables" / "beta.csv", header="")
    (tmp_path / "tables" / "notes.txt").write_text("not a table\n")
    return tmp_path


def suite_config(**suite) -> dict:
    return {
        "defaults": {"fractions": [1.0, 0.5], "train": {"epochs": 2, "lr": 0.01}},
        "datasets": {"roll": {"source": {"kind": "sklearn", "name": "swiss_roll"}}},
        "suites": {"tabs": {"files": "tables", **suite}},
    }


# --- expansion -------------------------------------------------------------------------


def test_member_keys_are_sanitized_file_stems():
    assert member_key("Alpha-One") == "alpha_one"
    assert member_key("pima-indians-diabetes") == "pima_indians_diabetes"
    assert member_key("2020 data!") == "data_2020_data"
    assert member_key("__x__y") == "x_y"


def test_a_folder_expands_into_one_dataset_per_table_with_shared_and_own_settings(folder):
    config = suite_config(
        source={"header": False, "missing": "impute", "min_class_rows": 3},
        split={"resplits": 2, "scheme": "kfold"},
        train={"epochs": 5},
        members={"alpha_one": {"source": {"header": True, "target": "label", "categorical": ["b"]},
                               "train": {"lr": 0.1}, "split": {"seed": 7}}},
    )
    studies = resolve(config)
    assert list(studies) == ["roll", "alpha_one", "beta"]  # the text file is no member
    alpha, beta = studies["alpha_one"], studies["beta"]
    assert alpha.data.source == CsvSource(path="tables/Alpha-One.csv", header=True, target="label", categorical=("b",),
                                          missing="impute", min_class_rows=3)
    assert beta.data.source == CsvSource(path="tables/beta.csv", header=False, missing="impute", min_class_rows=3)
    assert (alpha.data.split.seed, alpha.data.split.resplits, beta.data.split.seed) == (7, 2, 0)
    # study settings: defaults < the suite's < the member's own
    assert (alpha.settings.train.epochs, alpha.settings.train.lr) == (5, 0.1)
    assert (beta.settings.train.epochs, beta.settings.train.lr) == (5, 0.01)
    assert studies["roll"].settings.train.epochs == 2  # the suite's settings stay its own
    members = resolve_suites(config)["tabs"].members
    assert [(m.name, m.origin, m.checked) for m in members] == [
        ("alpha_one", "tables/Alpha-One.csv", True), ("beta", "tables/beta.csv", True)]


def test_globs_and_files_pick_tables_and_csv_options_reach_csv_members_only(folder):
    pd = pytest.importorskip("pandas")
    pd.read_csv("tables/Alpha-One.csv").to_parquet("tables/gamma.parquet")
    config = suite_config(files=["tables/*a*", "tables/beta.csv"],
                          source={"header": True, "delimiter": ",", "missing": "drop"}, include=["roll"])
    studies = resolve(config)
    assert [n for n in studies if n != "roll"] == ["alpha_one", "beta", "gamma"]
    assert studies["gamma"].data.source.kind == "parquet" and studies["gamma"].data.source.missing == "drop"
    assert studies["beta"].data.source.header is True
    suite = resolve_suites(config)["tabs"]
    assert [(m.name, m.checked) for m in suite.members][-1] == ("roll", False)  # included, not checked


def test_openml_ids_and_the_shipped_cc18_list_expand_through_the_openml_kind(tmp_path):
    config = {"suites": {"ids": {"openml": [61, 37], "source": {"data_home": str(tmp_path), "header": False},
                                 "members": {"openml_37": {"source": {"target": "class"}}}},
                         "cc18": {"openml": "cc18", "prefix": "cc_"}}}
    studies = resolve(config)
    iris, diabetes = studies["openml_61"].data.source, studies["openml_37"].data.source
    assert (iris.kind, iris.data_id, iris.data_home, iris.target) == ("openml", 61, str(tmp_path), None)
    assert diabetes.target == "class"
    ids = openml_list("cc18")
    assert len(ids) == len(set(ids)) == 72 and ids == tuple(sorted(ids)) and ids[:3] == (3, 6, 11)
    assert [n for n in studies if n.startswith("cc_")] == [f"cc_openml_{i}" for i in ids]


@pytest.mark.parametrize("change, message", [
    ({"datasets": {"beta": {"source": {"kind": "sklearn", "name": "iris"}}}}, "the name of the dataset 'beta'"),
    ({"suites": {"tabs": {"files": "tables", "members": {"gamma": {}}}}}, "no member 'gamma'"),
    ({"suites": {"tabs": {"files": "tables", "exclude": {"Beta": "x"}}}}, "no member 'Beta'"),
    ({"suites": {"tabs": {"files": "tables", "members": {"beta": {"source": {"sheet": 1}}}}}}, "suites.tabs.members"),
    ({"suites": {"tabs": {"files": "tables", "source": {"header": "yes"}}}}, "suites.tabs.source.header"),
    ({"suites": {"tabs": {"files": "nowhere/*.csv"}}}, "no CSV or Parquet file"),
    ({"suites": {"tabs": {"files": "tables", "include": ["nope"]}}}, "no dataset 'nope'"),
    ({"suites": {"tabs": {"files": "tables", "prefix": "X"}}}, "suites.tabs.prefix"),
    ({"suites": {"tabs": {"files": "tables", "members": {"beta": {"seeds": []}}}}}, "suites.tabs.members.beta.seeds"),
    # Valid for some member kind, not for this one: named by the expanded member.
    ({"suites": {"tabs": {"files": "tables", "members": {"beta": {"source": {"data_home": "x"}}}}}},
     "suite 'tabs', member 'beta' (tables/beta.csv): config key 'source'"),
])
def test_bad_suites_are_refused_naming_the_suite_and_member(folder, change, message):
    config = suite_config()
    for key, value in change.items():
        config[key] = {**config.get(key, {}), **value}
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve(config)


def test_two_files_with_one_name_are_refused(folder):
    write_table(folder / "tables" / "beta-.csv")
    with pytest.raises(ConfigError, match=r"tables/beta-\.csv and tables/beta\.csv are both member 'beta'|"
                                          r"tables/beta\.csv and tables/beta-\.csv are both member 'beta'"):
        resolve(suite_config())


def test_planted_variants_and_excluded_members(folder):
    config = suite_config(planted=[{"factor": 1, "kind": "noise"}, {"factor": 4, "kind": "permuted", "seed": 3}],
                          exclude={"beta": "too small"})
    studies = resolve(config)
    assert [n for n in studies if n != "roll"] == ["alpha_one", "alpha_one_noise1", "alpha_one_permuted4"]
    assert studies["alpha_one"].data.source.planted is None
    assert studies["alpha_one_permuted4"].data.source.planted == PlantedSettings(4, "permuted", 3)
    suite = resolve_suites(config)["tabs"]
    assert [(m.base, m.planted) for m in suite.members] == [
        ("alpha_one", None), ("alpha_one", {"factor": 1, "kind": "noise", "seed": 0}),
        ("alpha_one", {"factor": 4, "kind": "permuted", "seed": 3})]
    assert suite.excluded == (("beta", "too small"),)


def test_the_default_study_has_no_suite_and_unchanged_data_params():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert resolve_suites(config) == {}
    source = resolve(config)["diabetes"].data.to_params()["source"]
    assert source == {"kind": "sklearn", "name": "diabetes", "n_samples": 3000, "noise": 0.5, "n_classes": 6}
    # An unset planted option is left out of a table's params, so adding the option reruns no data job.
    assert "planted" not in DataSettings(CsvSource(path="x.csv"), SplitSettings()).to_params()["source"]


def test_the_shipped_suite_config_is_valid_on_top_of_the_default_study(monkeypatch):
    monkeypatch.chdir(REPO)  # files: ../shared/data/uci, beside the checkout
    if not (REPO.parent / "shared" / "data" / "uci").is_dir():
        pytest.skip("needs ../shared/data/uci")
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config.update(yaml.safe_load((REPO / "config" / "suite_uci.yaml").read_text()))
    suite = resolve_suites(config)["uci"]
    assert len(suite.members) == 17 and sum(m.checked for m in suite.members) == 14


# --- planted inputs ---------------------------------------------------------------------


def table(y: list[int], rows: int = 30, seed: int = 0, planted: PlantedSettings | None = None) -> Table:
    x = torch.randn(rows, 3, generator=torch.Generator().manual_seed(seed))  # (rows, 3)
    facts = Facts(kind="csv", source="t.csv", feature_names=["a", "b", "c"], class_names=["0", "1"], labels="")
    return Table(facts=facts, x=x, y=torch.tensor(y), planted=planted)


@pytest.mark.parametrize("kind", ["noise", "permuted"])
def test_planted_columns_are_reproducible_from_their_seed(kind):
    x = torch.randn(20, 3, generator=torch.Generator().manual_seed(1))
    first, names, record = plant(x, ["a", "b", "c"], PlantedSettings(2, kind, seed=5))
    again, _, _ = plant(x, ["a", "b", "c"], PlantedSettings(2, kind, seed=5))
    other, _, _ = plant(x, ["a", "b", "c"], PlantedSettings(2, kind, seed=6))
    assert first.shape == (20, 9) and torch.equal(first, again) and not torch.equal(first, other)
    assert torch.equal(first[:, :3], x)  # the real features first, untouched
    assert record["columns"] == [3, 4, 5, 6, 7, 8] and record["real_features"] == 3 and len(names) == 9
    if kind == "permuted":
        # Copy c is the real columns in the rows' order row_order(c): each keeps its values.
        for c in range(2):
            assert torch.equal(first[:, 3 + 3 * c:6 + 3 * c], x[row_order(20, 5, c)])
        assert record["copies_of"] == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize("kind", ["noise", "permuted"])
def test_planted_columns_never_read_the_labels_and_are_fixed_before_the_split(kind):
    """Two tables that differ only in their labels get the same planted cells in every row;
    so do two splits of one table (another split seed, k-fold)."""
    planted = PlantedSettings(1, kind, seed=2)
    unsplit = SplitSettings(stratify=False)
    labels_a, labels_b = [i % 2 for i in range(30)], [int(i < 15) for i in range(30)]
    a = tabular_dataset("a", table(labels_a, planted=planted), unsplit)
    b = tabular_dataset("b", table(labels_b, planted=planted), unsplit)
    assert torch.equal(a.folds[0].x_train, b.folds[0].x_train) and torch.equal(a.folds[0].x_test, b.folds[0].x_test)
    assert not torch.equal(a.folds[0].y_train, b.folds[0].y_train)
    assert a.record["planted"] == {"factor": 1, "kind": kind, "seed": 2, "real_features": 3, "columns": [3, 4, 5],
                                   **({"copies_of": [0, 1, 2]} if kind == "permuted" else {})}
    # Every row keeps its planted cells whatever the split: each row's (real, planted) pair
    # is the same set in a shuffle split and in a 3-fold split of the table.
    expected, _, _ = plant(table(labels_a).x, ["a", "b", "c"], planted)
    for split in (SplitSettings(seed=9), SplitSettings(resplits=3, scheme="kfold")):
        data = tabular_dataset("a", table(labels_a, planted=planted), split)
        for fold, norm in zip(data.folds, data.record["normalization"]):
            mean, std = torch.tensor(norm["mean"]), torch.tensor(norm["std"])
            rows = torch.cat([fold.x_train, fold.x_val, fold.x_test]) * std + mean  # (30, 6) unstandardized
            assert sorted(map(tuple, rows.round(decimals=4).tolist())) == \
                sorted(map(tuple, expected.round(decimals=4).tolist()))


def test_a_csv_source_with_planted_inputs_records_them(tmp_path):
    path = write_table(tmp_path / "t.csv")
    source = CsvSource(path=path, planted={"factor": 2, "kind": "noise"})
    data = make_dataset("t", source, SplitSettings())
    assert data.record["n_features"] == 6 and data.record["planted"]["columns"] == [2, 3, 4, 5]
    assert data.record["feature_names"][2:] == [f"planted_noise{i}" for i in range(4)]
    assert "planted" not in make_dataset("t", CsvSource(path=path), SplitSettings()).record


# --- what pruning does with planted inputs ------------------------------------------------


def test_removal_shares_and_aucs_are_exact_on_a_constructed_mask():
    # 4 hidden units x 5 inputs; inputs 3 and 4 are planted.
    mask = torch.tensor([[1, 1, 0, 0, 0],
                         [1, 0, 1, 0, 1],
                         [1, 1, 0, 0, 0],
                         [0, 1, 1, 1, 0]], dtype=torch.bool)  # (hidden, inputs)
    kept = mask.sum(0).tolist()
    assert kept == [3, 3, 2, 1, 1]
    shares = removal_shares(kept, 4, [3, 4])
    assert shares["planted_removed"] == 1 - 2 / 8  # 6 of 8 planted connections removed
    assert shares["real_removed"] == 1 - 8 / 12  # 4 of 12 real connections removed
    # Connections: 12 real (8 kept), 8 planted (2 kept). A kept real one beats a removed
    # planted one (8 x 6 = 48 pairs); ties: kept-kept 8 x 2 + removed-removed 4 x 6 = 40.
    assert shares["connection_auc"] == (48 + 40 / 2) / (12 * 8)
    # Inputs: real scores 3, 3, 2 against planted 1, 1: every pair won.
    assert shares["input_auc"] == 1.0
    # Pairs of (1, 2, 2) against (2, 0): 1 loses to 2 and beats 0; each 2 ties 2 and beats 0.
    assert auc([1, 2, 2], [2, 0]) == (0 + 1 + 0.5 + 1 + 0.5 + 1) / 6
    with pytest.raises(ValueError):
        removal_shares(kept, 4, [])


def test_the_planted_stage_counts_each_networks_first_layer(tmp_path):
    """planted_inputs reads the retrain checkpoint's masks: one row per network."""
    from lthpipe import checkpoint
    from lthpipe.checkpoint import NetworkId, Stack
    from lthpipe.model import Architecture, init_params, stack

    arch = Architecture(4, (2,), 2)
    masks = {"w0": torch.tensor([[[1, 1, 0, 0], [1, 0, 0, 1]], [[1, 1, 1, 1], [0, 0, 0, 0]]], dtype=torch.bool),
             "w1": torch.ones(2, 2, 2, dtype=torch.bool)}  # (networks, out, in)
    trained = stack([init_params(arch, seed, "init") for seed in (0, 1)])
    networks = [NetworkId("rewind", 0, 0), NetworkId("random_mask", 0, 0)]
    path = tmp_path / "model.pt"
    checkpoint.save_stack(path, Stack(arch, networks, {"trained": trained, "mask": masks}), {
        "stage": "retrain", "dataset": "d", "fraction": 0.5,
    }, [{"retained": 0.5}, {"retained": 0.5}])
    record = tmp_path / "data.json"
    record.write_text('{"planted": {"columns": [2, 3], "real_features": 2}}')
    analyses.planted_inputs(record, [path], "d", tmp_path / "planted.json")
    rows = read_json(tmp_path / "planted.json")["networks"]
    assert [(r["method"], r["planted_removed"], r["real_removed"]) for r in rows] == [
        ("rewind", 0.75, 0.25), ("random_mask", 0.5, 0.5)]


def test_a_refused_member_gets_a_verdict_with_its_message(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,label\n1,x\n?,y\n")
    data_stages.check_data("bad", DataSettings(CsvSource(path=str(bad)), SplitSettings()), tmp_path / "check.json")
    verdict = read_json(tmp_path / "check.json")
    assert verdict["accepted"] is False and "missing values: column 'a' has 1 missing cell ('?')" in verdict["message"]
    good = write_table(tmp_path / "good.csv")
    data_stages.check_data("good", DataSettings(CsvSource(path=good), SplitSettings()), tmp_path / "ok.json")
    assert read_json(tmp_path / "ok.json")["accepted"] is True


# --- the cross-dataset answer -------------------------------------------------------------


def point(retained: float, verdict: str, mean: float = 0.9) -> dict:
    return {"retained": retained, "verdict": verdict, "mean": mean, "fraction": retained, "level": 0}


def fake_member(name: str, verdicts: list[str], rows: int, features: int, classes: int = 2,
                planted: dict | None = None, base: str | None = None) -> dict:
    """A member record built through member_record from a hand-made data record and summary."""
    fractions = [1.0, 0.5, 0.2, 0.1, 0.05][:len(verdicts)]
    data = {"n_train": [rows - 20], "n_val": [10], "n_test": [10], "n_features": features, "n_classes": classes,
            "classes": [{"0": {"index": 0, "train": rows - 26, "test": 7}, "1": {"index": 1, "train": 6, "test": 3}}]}
    summary = {"hidden": [8], "dense_test_acc": 0.9, "dense_test_std": 0.01, "n_units": 6, "tolerance": 0.01,
               "methods": {"oneshot": {"rewind": {"points": [point(f, v) for f, v in zip(fractions, verdicts)]}}}}
    member = {"name": name, "origin": f"{name}.csv", "checked": True, "base": base or name, "planted": planted}
    return member_record("s", member, {"accepted": True}, data, summary, None)


def test_removable_fraction_and_its_bracket():
    assert removable([point(1.0, "holds"), point(0.5, "holds"), point(0.2, "unclear"), point(0.1, "fails")]) == {
        "removable": 0.5, "upper": 0.9, "retained": 0.5, "test_acc": 0.9}
    # A hold after an unclear point does not count; nothing fails: the bracket is open to 1.
    assert removable([point(0.5, "holds"), point(1.0, "unclear"), point(0.2, "holds")])["removable"] == 0.0
    assert removable([point(1.0, "holds"), point(0.2, "holds")])["upper"] == 1.0


def test_spearman_with_ties_equals_a_hand_computation():
    assert ranks([10, 20, 20, 5]) == [2, 3.5, 3.5, 1]
    # x ranks 1..4, y ranks 1, 3, 2, 4: d^2 = 0 + 1 + 1 + 0 = 2, rho = 1 - 6 * 2 / (4 * 15) = 0.8.
    # rho >= 0.8 needs sum d^2 <= 2: the identity and the 3 swaps of neighbours; their 4
    # mirror images give rho <= -0.8: p = 8 / 24, exactly.
    result = spearman([1, 2, 3, 4], [1, 3, 2, 4])
    assert math.isclose(result["rho"], 0.8) and result["n"] == 4 and result["p"] == 8 / 24
    assert spearman([1, 2, 3], [5, 5, 5]) == {"rho": None, "n": 3, "p": None}


def test_a_tiny_suites_numbers_equal_a_hand_computation():
    records = [
        fake_member("a", ["holds", "holds", "holds", "holds"], rows=100, features=10),  # [0.9, 1.0)
        fake_member("b", ["holds", "holds", "fails"], rows=200, features=4),  # [0.5, 0.8)
        fake_member("c", ["holds", "unclear", "fails"], rows=50, features=20),  # [0.0, 0.8)
        fake_member("d", ["holds", "holds", "holds", "unclear", "fails"], rows=400, features=8),  # [0.8, 0.95)
        fake_member("a_noise1", ["holds", "holds"], rows=100, features=20, planted={"factor": 1, "kind": "noise"},
                    base="a"),
        {"status": "refused", "dataset": "e", "origin": "e.csv", "message": "no such file", "planted": None},
    ]
    answer = suite_answer({"suite": "s", "excluded": [["f", "too big"]]}, records)
    assert answer["datasets"] == ["a", "b", "c", "d"]  # the planted variant has its own section
    lows = {r["dataset"]: r["methods"]["rewind"]["removable"] for r in records[:4]}
    assert {k: round(v, 9) for k, v in lows.items()} == {"a": 0.9, "b": 0.5, "c": 0.0, "d": 0.8}
    d = answer["methods"]["rewind"]["distribution"]
    # sorted: 0.0, 0.5, 0.8, 0.9; inclusive quartiles at positions 0.75, 1.5, 2.25
    assert (d["n"], d["min"], d["max"]) == (4, 0.0, 0.9)
    assert math.isclose(d["median"], 0.65) and math.isclose(d["q1"], 0.375) and math.isclose(d["q3"], 0.825)
    assert d["at_least"] == {"0.5": 3, "0.8": 2}
    assert d["ruled_out"] == {"0.5": 0, "0.8": 2}  # b and c fail at 20% retained
    # features per row: a 0.1, b 0.02, c 0.4, d 0.02 -> ranks 3, 1.5, 4, 1.5; removable ranks 4, 2, 1, 3.
    rho = answer["methods"]["rewind"]["correlation"]["features_per_row"]["rho"]
    rx, ry = [3, 1.5, 4, 1.5], [4, 2, 1, 3]
    hand = sum((a - 2.5) * (b - 2.5) for a, b in zip(rx, ry)) / math.sqrt(
        sum((a - 2.5) ** 2 for a in rx) * sum((b - 2.5) ** 2 for b in ry))
    assert math.isclose(rho, hand)
    assert answer["methods"]["rewind"]["correlation"]["majority_acc"]["rho"] is None  # 0.7 for all four
    assert answer["refused"] == [{"dataset": "e", "origin": "e.csv", "message": "no such file", "status": "refused"}]
    assert answer["headline"].startswith("The reference study's \"about 80% of the weights can go\" holds for "
                                         "most datasets of this suite, not all: ")
    assert "2 of 4 datasets keep the dense accuracy" in answer["headline"] and "2 clearly lose it" in answer["headline"]
    assert "0 are undecided" in answer["headline"] and "median removable fraction is 65%" in answer["headline"]
    assert answer["planted"]["removable"] == [{"base": "a", "kind": "noise", "factors": {
        0: records[0]["methods"]["rewind"], 1: records[4]["methods"]["rewind"]}}]
    text = suite_markdown(answer)
    assert "| a | 100 | 10 | 2 | 0.100 | 0.700 | 8 | 0.900 ± 0.010 | [0.90, 1.00) |" in text
    assert "- e (e.csv): refused: no such file" in text and "- f: excluded by the config: too big" in text


def test_a_refused_members_record_keeps_its_message():
    member = {"name": "e", "origin": "e.csv", "checked": True, "base": "e", "planted": None}
    record = member_record("s", member, {"accepted": False, "message": "e.csv: no such file"}, None, None, None)
    assert (record["status"], record["message"]) == ("refused", "e.csv: no such file")
    answer = suite_answer({"suite": "s", "excluded": []}, [copy.deepcopy(record)])
    assert answer["reference_method"] is None and "says nothing" in answer["headline"]


def test_a_failed_members_message_is_the_error_its_newest_failed_log_of_this_run_ends_with(tmp_path):
    import os

    from lthpipe.suite_failures import failure

    stamp = "2026-12-04 21:13:13,141 lthpipe"
    logs = tmp_path / "logs"
    (logs / "retrain").mkdir(parents=True)
    (logs / "make_data.log").write_text(f"{stamp} INFO rule make_data, wildcards {{}}\n{stamp}.jobs INFO 1.0 s, CPU 1.0 s, peak memory 9 MB\n")
    failed = logs / "retrain" / "f0.300.log"
    failed.write_text(f"{stamp} INFO rule retrain, wildcards {{}}\n{stamp} ERROR failed\nTraceback (most recent call last):\n"
                      f"  File \"x.py\", line 1, in <module>\nValueError: no rows left\n"
                      f"{stamp}.jobs INFO 1.0 s, CPU 1.0 s, peak memory 9 MB\n")
    refused = logs / "train_dense.log"
    refused.write_text(f"{stamp} INFO rule train_dense, wildcards {{}}\n{stamp} ERROR refused: needs 90 GB\n")
    os.utime(failed, (2000, 2000))
    os.utime(refused, (1000, 1000))
    assert failure(logs, since=0) == "retrain: ValueError: no rows left"  # the newest
    assert failure(logs, since=1500) == "retrain: ValueError: no rows left"
    os.utime(failed, (500, 500))
    assert failure(logs, since=0) == "train_dense: refused: needs 90 GB"
    assert failure(logs, since=1500) is None  # both from an earlier run
