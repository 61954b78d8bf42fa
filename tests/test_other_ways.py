"""The opt-in other ways to a small network (config/other_ways.yaml) through the
workflow, on a tiny table: neuron pruning, SET and RigL on the curves, the instability
analysis, aligned overlap and the inference benchmark of neuron-pruned networks; and
the default study's job list, which none of them may change."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml

from lthpipe.checkpoint import NetworkId, load_stack
from lthpipe.compact import compact
from lthpipe.prune import dense_hidden
from workflow_helpers import REPO, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow
METHODS = ["rewind", "random_mask", "dense_small", "neurons", "neurons_finetune", "set", "rigl"]
CONFIG = {
    "device": "cpu",
    "defaults": {
        "seeds": [0, 1],
        "fractions": [1.0, 0.5, 0.25],
        "methods": METHODS,
        "train": {"epochs": 15, "lr": 0.01, "batch_size": 16},  # 6 steps an epoch: 90 steps
        "sparse_training": {"update_every": 4},
        "instability": {"at": [0, 12], "fraction": 0.5, "points": 5},
        "aligned_overlap": True,
    },
    "datasets": {"iris": {"source": {"kind": "sklearn", "name": "iris"}, "hidden": [8]}},
    "inference": {"datasets": ["iris"], "also": ["neurons"], "repeats": 3, "batch": 64},
}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("other_ways")
    write_config(workdir, CONFIG)
    snakemake(workdir, "--cores", "2")
    return workdir


def _networks(built: Path, fraction: str):
    retrained, record = load_stack(built / f"artifacts/iris/retrain/f{fraction}/model.pt", stage="retrain")
    pruned, _ = load_stack(built / f"artifacts/iris/prune/f{fraction}/masks.pt", stage="prune")
    return retrained, record, pruned


def test_neuron_pruned_networks_are_dense_networks_of_the_same_size_controls_widths(built):
    retrained, record, pruned = _networks(built, "0.500")
    for method in ("neurons", "neurons_finetune"):
        for seed in (0, 1):
            i = retrained.index(NetworkId(method, seed))
            mask = {k: m[i] for k, m in retrained.sections["mask"].items()}
            ticket = {k: m[pruned.index(NetworkId("magnitude", seed))] for k, m in pruned.sections["mask"].items()}
            widths = dense_hidden(retrained.arch, sum(int(m.sum()) for m in ticket.values()))
            network = compact({k: v[i] for k, v in retrained.sections["trained"].items()}, mask)
            assert network.effective_widths == widths and widths == (4,)  # round(80 / 19) units of 19 weights
            about = record["networks"][i]
            assert about["retained"] == 4 * 19 / (8 * 19) and about["effective_hidden"] == [4]


def test_set_and_rigl_keep_their_layer_counts_and_move_connections(built):
    retrained, record, pruned = _networks(built, "0.250")
    for method in ("set", "rigl"):
        for seed in (0, 1):
            i = retrained.index(NetworkId(method, seed))
            ticket = pruned.index(NetworkId("magnitude", seed))
            for k, mask in retrained.sections["mask"].items():
                assert int(mask[i].sum()) == int(pruned.sections["mask"][k][ticket].sum())  # the fraction's counts
                assert (retrained.sections["trained"][k][i][~mask[i]] == 0).all()
            assert record["networks"][i]["regrown"] > 0  # connections moved during training


def test_the_instability_analysis_has_every_rewind_point_and_network(built):
    summary = json.loads((built / "artifacts/iris/instability.json").read_text())
    assert [(p["at"], p["kind"]) for p in summary["points"]] == [(0, "dense"), (0, "ticket"), (12, "dense"),
                                                                 (12, "ticket")]
    for point in summary["points"]:
        assert len(point["barriers"]) == 2 and all(b >= 0 for b in point["barriers"])
        assert len(point["curve"]) == 5 and point["retained"] == (1.0 if point["kind"] == "dense" else 0.5)
    assert (built / "artifacts/iris/instability.png").read_bytes()[:4] == b"\x89PNG"


def test_aligned_overlap_compares_every_fraction_against_chance(built):
    overlap = json.loads((built / "artifacts/iris/aligned_overlap.json").read_text())
    assert [f["fraction"] for f in overlap["fractions"]] == [1.0, 0.5, 0.25] and overlap["pairs"] == 1
    dense = overlap["fractions"][0]
    assert dense["aligned"]["overall"] == dense["unaligned"]["overall"] == dense["chance"]["overall"] == 1.0
    for f in overlap["fractions"]:
        assert set(f["aligned"]["layers"]) == set(f["unaligned"]["layers"]) == {"w0", "w1"}
        assert set(f["untrained_aligned"]["layers"]) == {"w0", "w1"}  # the matching's lift on θ0


def test_the_summary_says_whether_neuron_pruning_beats_the_narrow_network(built):
    summary = (built / "artifacts/summary.md").read_text()
    assert "### neuron pruning against a narrow network trained from scratch (same widths)" in summary
    assert "- **neurons pruned, rewound, retrained** against **dense, same weight count**" in summary
    rows = (built / "artifacts/iris/curve.csv").read_text().splitlines()
    assert Counter(r.split(",")[2] for r in rows[1:]) == {"dense": 2, "pruned": 6, **{m: 6 for m in METHODS}}


def test_the_benchmark_times_neuron_pruned_networks_beside_the_ticket(built):
    rows = json.loads((built / "artifacts/iris/inference.json").read_text())["rows"]
    assert Counter((r["method"], r["fraction"]) for r in rows) == {
        (m, f): 6 for m in ("rewind", "neurons") for f in (1.0, 0.5, 0.25)}
    compacted = {(r["method"], r["fraction"]): r["effective_hidden"] for r in rows if r["form"] == "compact_torch"}
    assert compacted[("neurons", 0.5)] == [4] and compacted[("neurons", 0.25)] == [2]


def test_the_default_study_plans_the_same_jobs(tmp_path):
    write_config(tmp_path, yaml.safe_load((REPO / "config.yaml").read_text()))
    assert Counter(rule for rule, _ in planned_jobs(tmp_path)) == {
        "make_data": 3, "train_width": 19, "select_width": 3, "train_dense": 3, "prune": 30, "retrain": 30,
        "aggregate": 3, "decision_regions": 3, "summarize": 1,
    }
