"""Iterative pruning as a chain of tickets with the controls beside it: a level's
ticket is one job the next level waits for, its controls (at imp.control_levels
only) another job that nothing in the chain waits for; the numbers are the ones a
level trained in one stack gives. Test accuracy is computed once, at the
early-stopping point. The warm worker forks before anything touches CUDA, and a
job's record names what ran it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
import torch
import yaml
from workflow_helpers import REPO, planned_jobs, snakemake, write_config

from lthpipe import checkpoint, rule_functions, train
from lthpipe.artifacts import read_json
from lthpipe.config import resolve
from lthpipe.datasets import Splits
from lthpipe.compact import effective_widths
from lthpipe.model import init_params, stack
from lthpipe.prune import dense_hidden
from lthpipe.results.aggregate import rows_from_records
from lthpipe.settings import IMP_TICKET, ImpSettings, TrainSettings
from lthpipe.stages import data as data_stages
from lthpipe.stages import training
from lthpipe.structured import alive_units
from lthpipe.train import accuracy, train_stack

TESTS = Path(__file__).resolve().parent

# A small study of the kind the replication runs: fixed widths, no one-shot
# fractions, early stopping at the minimum validation loss on a fixed grid.
STUDY = {
    "source": {"kind": "sklearn", "name": "wine"}, "hidden": [8, 6], "seeds": [0, 1, 2], "fractions": [],
    "init": "glorot_normal",
    "train": {"iterations": 60, "eval_every": 10, "batch_size": 16, "lr": 0.01, "early_stopping": "val_loss"},
    "imp": {"levels": 4, "rate": 0.3, "output_rate": 0.1, "methods": ["rewind", "reinit", "random_mask", "oneshot"],
            "control_levels": [2, 4]},
}


def config(**imp) -> dict:
    return {"device": "cpu", "datasets": {"wine": {**STUDY, "imp": {**STUDY["imp"], **imp}}}}


# ---- the settings ----------------------------------------------------------------


@pytest.mark.parametrize(("given", "levels", "expected"), [
    (None, 4, [1, 2, 3, 4]),  # every level, as before
    ((4, 2), 4, [2, 4]),
    ((2, 7), 4, [2]),  # 7 waits until the chain reaches it
    ((2, 7), 7, [2, 7]),
    ((), 4, []),
])
def test_controls_train_at_the_chosen_levels_of_the_chain(given, levels, expected):
    imp = ImpSettings(levels=levels, methods=("rewind", "reinit"), control_levels=given)
    assert imp.levels_with_controls() == expected
    assert ImpSettings(levels=levels, methods=("rewind",), control_levels=given).levels_with_controls() == []


def test_a_levels_ticket_job_trains_the_ticket_alone_and_its_controls_job_the_rest():
    level = resolve(config())["wine"].level_settings(3)
    assert level.ticket().methods == (IMP_TICKET,)
    assert level.controls().methods == ("reinit", "random_mask", "oneshot")
    # What the controls are, or where they train, is no setting of the ticket's job.
    other = resolve(config(methods=["rewind", "reinit"], control_levels=None))["wine"].level_settings(3)
    assert other.ticket() == level.ticket()


def test_iterative_neuron_pruning_trains_in_the_tickets_job_and_one_shot_neuron_pruning_beside_it():
    level = resolve(config(methods=["rewind", "neurons", "neurons_iterative", "reinit"]))["wine"].level_settings(3)
    assert level.ticket().methods == (IMP_TICKET, "neurons_iterative")  # its own chain: the next level prunes it
    assert level.controls().methods == ("neurons", "reinit")


def test_iterative_neuron_pruning_prunes_its_own_units_of_the_level_before_to_the_tickets_weight_count(tmp_path):
    study = resolve(config(methods=["rewind", "neurons_iterative", "neurons"], control_levels=None))["wine"]
    data, dense_path = tmp_path / "data.pt", tmp_path / "dense.pt"
    data_stages.make_data("wine", study.data, data)
    training.train_dense(data, "wine", study.dense_settings(study.settings.hidden), dense_path)
    dense, _ = checkpoint.load_stack(dense_path, stage="dense")
    previous, survived = dense_path, None
    for level in (1, 2, 3):
        settings = study.level_settings(level)
        training.imp(data, dense_path, previous, "wine", settings.ticket(), tmp_path / f"ticket{level}.pt")
        training.imp_controls(data, dense_path, tmp_path / f"ticket{level}.pt", "wine", settings.controls(),
                              tmp_path / f"controls{level}.pt")
        ticket, record = checkpoint.load_stack(tmp_path / f"ticket{level}.pt", stage="imp")
        controls, _ = checkpoint.load_stack(tmp_path / f"controls{level}.pt", stage="imp_controls")
        assert Counter(n.method for n in ticket.networks) == {"rewind": 3, "neurons_iterative": 3}
        assert Counter(n.method for n in controls.networks) == {"neurons": 3}
        masks = {(n.method, n.seed): {k: v[i] for k, v in part.sections["mask"].items()}
                 for part in (ticket, controls) for i, n in enumerate(part.networks)}
        units = {}
        for seed in (0, 1, 2):
            budget = sum(int(m.sum()) for m in masks[("rewind", seed)].values())
            widths = dense_hidden(dense.arch, budget)
            units[seed] = alive_units(masks[("neurons_iterative", seed)])
            assert effective_widths(masks[("neurons_iterative", seed)]) == list(widths)
            assert effective_widths(masks[("neurons", seed)]) == list(widths)  # one-shot: the same widths
            if survived is None:  # level 1 prunes the dense network: one-shot and iterative agree
                assert all(torch.equal(masks[("neurons", seed)][k], v) for k, v in masks[("neurons_iterative", seed)].items())
            else:  # a unit removed at a level before never comes back
                assert all(not (now & ~before).any() for now, before in zip(units[seed], survived[seed]))
        assert record["methods"] == ["rewind", "neurons_iterative"]
        previous, survived = tmp_path / f"ticket{level}.pt", units
    assert any(not torch.equal(masks[("neurons", s)]["w0"], masks[("neurons_iterative", s)]["w0"]) for s in (0, 1, 2))


# ---- the numbers: the same networks train to the same numbers -------------------


def _network(stack_: checkpoint.Stack, i: int) -> dict[str, torch.Tensor]:
    return {f"{section}.{k}": v[i] for section, params in stack_.sections.items() for k, v in params.items()}


def _metrics(record: dict, i: int) -> dict:
    return {key: values[i] for key, values in record["metrics"].items()}


def as_a_job(call: str, threads: int = 1) -> None:
    """Run `call` (Python, in this module's namespace) in a fresh process set up as a
    training job is (lthpipe.jobs.job): MKL's numerics mode before any arithmetic,
    and the job's thread count. This process's MKL started without it, and MKL
    only promises the same bits for the same values under that mode."""
    code = (f"from lthpipe import numerics; numerics.use('machine'); import torch; torch.set_num_threads({threads}); "
            f"import test_imp; test_imp.{call}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p)}
    env.pop("MKL_CBWR", None)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, timeout=600)
    assert run.returncode == 0, run.stderr


def run_levels_both_ways(folder: str) -> None:
    """Two levels run both ways: every method in one stack (the earlier layout), and
    the ticket alone, then the controls from the ticket's file. Each way's level 2
    prunes its own level 1's ticket."""
    folder = Path(folder)
    study = resolve(config())["wine"]
    data, dense = folder / "data.pt", folder / "dense.pt"
    data_stages.make_data("wine", study.data, data)
    training.train_dense(data, "wine", study.dense_settings(study.settings.hidden), dense)
    previous = {"together": dense, "apart": dense}
    for level in (1, 2):
        settings = study.level_settings(level)
        training.imp(data, dense, previous["together"], "wine", settings, folder / f"together{level}.pt")
        training.imp(data, dense, previous["apart"], "wine", settings.ticket(), folder / f"ticket{level}.pt")
        training.imp_controls(data, dense, folder / f"ticket{level}.pt", "wine", settings.controls(),
                            folder / f"controls{level}.pt")
        previous = {"together": folder / f"together{level}.pt", "apart": folder / f"ticket{level}.pt"}


@pytest.fixture(scope="module")
def both_ways(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("imp_stages")
    as_a_job(f"run_levels_both_ways({str(folder)!r})")
    return folder


@pytest.mark.parametrize("level", [1, 2])
def test_a_levels_networks_are_bit_identical_whether_or_not_its_controls_train_in_its_job(both_ways, level):
    """The tickets agree bit for bit (tensors and every metric, history included),
    so the next level prunes the same network; so do the controls, trained in a
    stack of their own (a network trains to the same bits in any stack:
    test_a_network_trains_to_the_same_bits_in_any_stack_at_any_position)."""
    both, both_record = checkpoint.load_stack(both_ways / f"together{level}.pt", stage="imp")
    alone, alone_record = checkpoint.load_stack(both_ways / f"ticket{level}.pt", stage="imp")
    rest, rest_record = checkpoint.load_stack(both_ways / f"controls{level}.pt", stage="imp_controls")
    assert {n.method for n in alone.networks} == {IMP_TICKET}
    assert Counter(n.method for n in rest.networks) == {"reinit": 3, "random_mask": 3, "oneshot": 3}
    assert alone_record["retained"] == rest_record["retained"] == both_record["retained"]
    assert sorted(alone.networks + rest.networks, key=both.index) == both.networks
    for part, record in ((alone, alone_record), (rest, rest_record)):
        for i, network in enumerate(part.networks):
            j = both.index(network)
            for name, tensor in _network(part, i).items():
                assert torch.equal(tensor, _network(both, j)[name]), (network, name)
            assert _metrics(record, i) == _metrics(both_record, j), network


@pytest.mark.parametrize("threads", [1, 2])
def test_a_network_trains_to_the_same_bits_in_any_stack_at_any_position(threads):
    """What lets a level's ticket and its controls train in separate jobs: each
    network's numbers do not depend on which networks share its stack, nor on its
    place in it (the last one of a stack included, lthpipe.train.PAD), for Adam and
    SGD, under the numerics every job runs with."""
    as_a_job("check_same_bits_in_any_stack()", threads)


def check_same_bits_in_any_stack() -> None:
    from lthpipe.model import Architecture
    from lthpipe.prune import magnitude_mask

    arch = Architecture(6, (13, 7), 3)  # sizes whose tensors end inside a vector block
    nets = [init_params(arch, s, "init") for s in range(5)]
    masks = stack([magnitude_mask(n, f) for n, f in zip(nets, (1.0, 0.5, 0.3, 0.2, 0.1))])
    for optimizer in ("adam", "sgd"):
        settings = TrainSettings(iterations=80, eval_every=10, lr=0.02, batch_size=32, optimizer=optimizer)
        together = train_stack(stack(nets), _toy_splits(), settings, order_seed=5, masks=masks)
        for order in ([4], [3, 4], [4, 0, 2]):
            part = train_stack(stack([nets[i] for i in order]), _toy_splits(), settings, order_seed=5,
                               masks={k: m[order] for k, m in masks.items()})
            for position, i in enumerate(order):
                for name in together.best:
                    assert torch.equal(part.best[name][position], together.best[name][i]), (optimizer, order, i, name)
                assert torch.equal(part.history.val_loss[:, position], together.history.val_loss[:, i])
                assert torch.equal(part.history.train_loss[:, position], together.history.train_loss[:, i])
                assert torch.equal(part.test_acc[position], together.test_acc[i])


def test_the_controls_job_refuses_the_ticket_and_the_ticket_job_needs_it(both_ways):
    settings = resolve(config())["wine"].level_settings(1)
    data, dense = both_ways / "data.pt", both_ways / "dense.pt"
    with pytest.raises(ValueError, match="controls only"):
        training.imp_controls(data, dense, both_ways / "ticket1.pt", "wine", settings, both_ways / "x.pt")
    with pytest.raises(ValueError, match="leave it out"):
        training.imp(data, dense, dense, "wine", settings.controls(), both_ways / "x.pt")


def test_the_rows_come_from_both_records_and_a_network_in_two_is_refused(both_ways):
    dense_record = read_json(both_ways / "dense.json")
    levels = [read_json(both_ways / f"{kind}{k}.json") for k in (1, 2) for kind in ("ticket", "controls")]
    rows = [r for r in rows_from_records(dense_record, [], [], levels) if r["procedure"] == "imp"]
    assert Counter((r["level"], r["method"]) for r in rows) == {
        (k, m): 3 for k in (1, 2) for m in ("rewind", "reinit", "random_mask", "oneshot")}
    with pytest.raises(ValueError, match="in two records"):
        rows_from_records(dense_record, [], [], [read_json(both_ways / "together1.json"), levels[0]])


# ---- the workflow: which jobs, and what waits for what --------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Path:
    """The small study run by the workflow: 4 levels, controls at levels 2 and 4."""
    workdir = tmp_path_factory.mktemp("imp_chain")
    write_config(workdir, config())
    snakemake(workdir, "--cores", "2")
    return workdir


def _plan(workdir: Path, **imp) -> list[tuple[str, dict]]:
    write_config(workdir, config(**imp))
    try:
        return planned_jobs(workdir)
    finally:
        write_config(workdir, config())


def _levels(jobs, rule: str) -> list[str]:
    return sorted(w["level"] for r, w in jobs if r == rule)


@pytest.mark.workflow
def test_controls_only_at_chosen_levels_plan_only_those_jobs(tmp_path):
    write_config(tmp_path, config())
    jobs = planned_jobs(tmp_path)
    assert _levels(jobs, "imp") == ["01", "02", "03", "04"]
    assert _levels(jobs, "imp_controls") == ["02", "04"]
    assert Counter(r for r, _ in jobs) == {"make_data": 1, "train_dense": 1, "imp": 4, "imp_controls": 2,
                                           "aggregate": 1, "summarize": 1}
    assert _levels(_plan(tmp_path, control_levels=None), "imp_controls") == ["01", "02", "03", "04"]
    assert _levels(_plan(tmp_path, methods=["rewind"]), "imp_controls") == []


@pytest.mark.workflow
def test_the_chain_and_the_controls_record_what_they_trained(chain):
    folder = chain / "artifacts/wine/imp"
    assert sorted(p.name for p in folder.glob("level*/*.json")) == ["controls.json"] * 2 + ["model.json"] * 4
    for level in ("02", "04"):
        ticket = read_json(folder / f"level{level}/model.json")
        controls = read_json(folder / f"level{level}/controls.json")
        assert controls["parents"][-1] == f"artifacts/wine/imp/level{level}/model.pt"
        assert {n["method"] for n in ticket["networks"]} == {IMP_TICKET}
        assert controls["retained"] == ticket["retained"]
    curve = (chain / "artifacts/wine/curve.csv").read_text().splitlines()
    imp_rows = Counter(tuple(line.split(",")[i] for i in (2, 6)) for line in curve[1:] if ",imp," in line)
    assert imp_rows == {**{("rewind", str(k)): 3 for k in range(1, 5)},
                        **{(m, str(k)): 3 for m in ("reinit", "random_mask", "oneshot") for k in (2, 4)}}


@pytest.mark.workflow
def test_no_ticket_waits_for_a_control(tmp_path):
    """The rule graph: a level's ticket feeds the next level's ticket, its own
    controls and the report; a level's controls feed only the report."""
    write_config(tmp_path, config())
    dot = snakemake(tmp_path, "--rulegraph").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.MULTILINE))
    edges = {(names[a], names[b]) for a, b in re.findall(r"^\s*(\d+) -> (\d+)", dot, re.MULTILINE)}
    assert {b for a, b in edges if a == "imp"} == {"imp", "imp_controls", "aggregate"}
    assert {b for a, b in edges if a == "imp_controls"} == {"aggregate"}
    assert {a for a, b in edges if b == "imp"} == {"make_data", "train_dense", "imp"}


@pytest.mark.workflow
def test_extending_the_levels_runs_only_the_new_levels(chain):
    jobs = _plan(chain, levels=6, control_levels=[2, 4, 6])
    assert Counter(r for r, _ in jobs) == {"imp": 2, "imp_controls": 1, "aggregate": 1, "summarize": 1}
    assert _levels(jobs, "imp") == ["05", "06"] and _levels(jobs, "imp_controls") == ["06"]


@pytest.mark.workflow
def test_controls_at_another_level_run_there_and_retrain_no_ticket(chain):
    jobs = _plan(chain, control_levels=[1, 2, 4])
    assert Counter(r for r, _ in jobs) == {"imp_controls": 1, "aggregate": 1, "summarize": 1}
    assert _levels(jobs, "imp_controls") == ["01"]
    # Dropping a control method retrains the controls, not the tickets.
    jobs = _plan(chain, methods=["rewind", "reinit"])
    assert Counter(r for r, _ in jobs) == {"imp_controls": 2, "aggregate": 1, "summarize": 1}


# ---- test accuracy, once, at the early-stopping point ----------------------------


def _toy_splits(n: int = 300) -> Splits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 6, generator=gen)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0.5).long()
    return Splits(x[:200], y[:200], x[200:250], y[200:250], x[250:], y[250:])


@pytest.mark.parametrize("early_stopping", ["val_acc", "val_loss"])
def test_test_accuracy_computed_once_equals_the_per_evaluation_value_at_the_early_stopping_point(early_stopping):
    """train_stack evaluates the validation split at every point and the test split
    once, on the early-stopping point's weights. A test-only loop evaluates the test
    split at every point instead (training to each point: the first k steps are the
    same whatever the budget) and picks each network's early-stopping point's value."""
    from lthpipe.model import Architecture

    arch = Architecture(6, (16,), 3)
    splits = _toy_splits()
    init = stack([init_params(arch, s, "init") for s in range(3)])
    settings = TrainSettings(iterations=60, eval_every=5, lr=0.05, batch_size=32, early_stopping=early_stopping)
    result = train_stack(init, splits, settings, order_seed=3)
    per_point = []  # (points, N): test accuracy of the weights at each evaluation point
    for point in result.history.iterations:
        shorter = TrainSettings(iterations=point, eval_every=5, lr=0.05, batch_size=32, early_stopping=early_stopping)
        at_point = train_stack(init, splits, shorter, order_seed=3)
        assert torch.equal(at_point.history.val_loss, result.history.val_loss[: len(at_point.history.iterations)])
        per_point.append(at_point.final_test_acc)
    per_point = torch.stack(per_point)
    best = result.history.best
    assert len(set(best.tolist())) > 1 or early_stopping == "val_acc"  # the networks stop at different points
    assert torch.equal(result.test_acc, per_point[best, torch.arange(3)])
    assert torch.equal(result.test_acc, accuracy(result.best, splits.x_test, splits.y_test))
    assert torch.equal(result.final_test_acc, per_point[-1])


# ---- the GPU path, checked without a GPU -----------------------------------------

# What lthpipe.worker.serve imports before it forks a child per job.
WORKER_IMPORTS = ("torch", *rule_functions.stage_modules())
NO_CUDA_BEFORE_FORK = textwrap.dedent("""
    import importlib, sys
    import torch

    touched = []

    def refuse(name):
        def call(*args, **kwargs):
            touched.append(name)
            raise RuntimeError(f"{name} called before the worker forks")
        return call

    # Each of these starts CUDA's driver in this process (torch.cuda.is_available and
    # device_count through cudaGetDeviceCount), after which a forked child cannot use it.
    for name in ("is_available", "device_count", "init", "_lazy_init", "current_device", "get_device_name"):
        setattr(torch.cuda, name, refuse(name))
    torch._C._cuda_getDeviceCount = refuse("_cuda_getDeviceCount")
    import lthpipe.worker, lthpipe.jobs
    for module in sys.argv[1:]:
        importlib.import_module(module)
    assert not torch.cuda.is_initialized(), "CUDA initialised"
    assert not touched, touched
    print("ok")
""")


def test_importing_what_the_worker_imports_before_it_forks_initialises_no_cuda():
    """CUDA does not survive a fork that follows its initialisation: the worker
    must import torch and the stages without starting it (a fresh process, so no
    other test's import counts). Without a GPU, is_initialized() alone would pass
    whatever happened; every call that would start the driver fails the test."""
    serve = Path(REPO / "lthpipe/worker.py").read_text()
    # The list above is what serve imports: torch, and the stages' modules of the table.
    assert "import torch" in serve and "importlib.import_module(module)" in serve
    assert "for module in rule_functions.stage_modules():" in serve
    run = subprocess.run([sys.executable, "-c", NO_CUDA_BEFORE_FORK, *WORKER_IMPORTS], capture_output=True,
                         text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr


def test_a_jobs_record_names_the_device_and_the_library_versions(monkeypatch):
    cpu = train.describe_compute("cpu")
    assert cpu["device"] == "cpu" and cpu["torch"] == torch.__version__ and "gpu" not in cpu
    # What a CUDA job records, with the GPU's answers stubbed (none here).
    monkeypatch.setattr(train, "resolve_device", lambda name: torch.device(name))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "NVIDIA H200")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device: (9, 0))
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    gpu = train.describe_compute("cuda")
    assert gpu["device"] == "cuda" and gpu["torch"] == torch.__version__
    assert (gpu["gpu"], gpu["capability"], gpu["cuda"], gpu["cudnn"]) == ("NVIDIA H200", [9, 0], "12.8", 91002)
    assert gpu["cublas_workspace_config"] == ":4096:8"


# ---- the replication's records, kept and rebuilt (lthpipe.replication) ------------

# Synthetic records: 3 seeds; the ticket stops at half the dense network's
# iteration and is 0.4 points above it, the re-initialised control 1 point below.
LEVELS = {3: 0.513, 7: 0.211, 9: 0.135, 15: 0.036, 16: 0.029}
SEEDS = [0, 1, 2]


def _record(stage: str, level: int, methods: dict[str, tuple[list[float], list[int]]], seeds: list[int] = SEEDS,
            numerics: str = "machine") -> dict:
    networks, accs, iterations = [], [], []
    for method, (acc, its) in methods.items():
        for seed, a, it in zip(seeds, acc, its):
            networks.append({"method": method, "seed": seed, "fold": 0, "level": level, "retained": LEVELS[level]})
            accs.append(a)
            iterations.append(it)
    return {"stage": stage, "level": level, "networks": networks, "compute": {"numerics": numerics},
            "metrics": {"test_acc": accs, "best_iteration": iterations}}


def write_synthetic_run(run: Path, seeds: list[int] = SEEDS, numerics: str = "machine", shift: float = 0.0) -> None:
    """A replication run's records and logs: the tickets 0.4 points above the dense
    networks and twice as fast, the re-initialised controls 1 point below (plus `shift`)."""
    from lthpipe.artifacts import write_json

    dense_acc = [0.978 + (0, 0.002, 0.001)[s % 3] + 0.0003 * (s // 3) for s in seeds]
    dense_it = [(4000, 3600, 4400)[s % 3] for s in seeds]
    write_json(run / "data/data.json", {"stage": "data", "kind": "mnist", "n_train": [55000]})
    write_json(run / "dense/model.json", {"stage": "dense", "seeds": seeds, "compute": {"numerics": numerics},
                                          "metrics": {"test_acc": dense_acc, "best_iteration": dense_it}})
    for level in LEVELS:
        ticket = ([a + 0.004 + 0.0001 * s + shift for s, a in zip(seeds, dense_acc)], [it // 2 for it in dense_it])
        write_json(run / f"imp/level{level:02d}/model.json", _record("imp", level, {"rewind": ticket}, seeds, numerics))
        (run / f"imp/level{level:02d}/model.pt").write_bytes(b"tensors")
        if level in (3, 7, 15):
            reinit = ([a - 0.01 - 0.0002 * s for s, a in zip(seeds, dense_acc)], [it * 3 // 2 for it in dense_it])
            write_json(run / f"imp/level{level:02d}/controls.json",
                       _record("imp_controls", level, {"reinit": reinit}, seeds, numerics))
    (run / "logs/imp").mkdir(parents=True)
    (run / "logs/imp/level03.log").write_text(
        "2026-12-04 21:13:13,141 lthpipe INFO rule imp, wildcards {'level': '03'}\n"
        "2026-12-04 21:19:13,141 lthpipe INFO 360.0 s, CPU 355.5 s, peak memory 1400 MB\n")
    (run / "logs/imp/level04.log").write_text("2026-12-04 21:19:14,000 lthpipe INFO rule imp\n")  # still running


def test_the_replication_keeps_a_runs_records_and_rebuilds_its_tables_and_figure_from_them(tmp_path):
    from lthpipe import replication

    run, out = tmp_path / "run", tmp_path / "docs"
    write_synthetic_run(run)
    replication.main(["--collect", str(run), "--name", "first", "--out", str(out)])
    kept = sorted(str(p.relative_to(out / "records" / "first")) for p in (out / "records").rglob("*") if p.is_file())
    assert kept == sorted(["costs.json", "data/data.json", "dense/model.json",
                           *(f"imp/level{k:02d}/model.json" for k in LEVELS),
                           *(f"imp/level{k:02d}/controls.json" for k in (3, 7, 15))])  # no tensors
    costs = read_json(out / "records/first/costs.json")
    assert costs == {"imp/level03.log": {"start": "2026-12-04T21:13:13.141", "wall_s": 360.0, "cpu_s": 355.5,
                                         "peak_mb": 1400}}  # the running job left out

    shutil.rmtree(run)  # the rebuild needs the kept records alone
    (out / "results.md").unlink()
    replication.main(["--out", str(out)])
    text = (out / "results.md").read_text()
    assert (out / "lenet.png").read_bytes().startswith(b"\x89PNG")
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["0 (dense)"].startswith("| 0 (dense) | 100.0% | 97.90 ± 0.10 |")
    assert "| 7 | 21.1% | 98.31 ± 0.11 | 96.88 ± 0.09 | 2000 ± 200 | 6000 ± 600 |" in text
    assert rows["9"] == "| 9 | 13.5% | 98.31 ± 0.11 |  | 2000 ± 200 |  |"  # no controls at level 9
    claims = {line.split(" | ")[0].strip("| "): line.rsplit(" | ", 1)[1].strip(" |") for line in text.splitlines()
              if line.startswith("| At ") or line.startswith("| Dense")}
    assert claims == {
        "Dense test accuracy (Figure 3)": "reproduced",
        "At 21.1%, tickets reach minimum validation loss 38% sooner than the dense network":
            "direction reproduced, size differs",  # 50% sooner, exactly: the interval is a point
        "At 13.5%, tickets are more than 0.3 points more accurate than the dense network": "reproduced",
        "At 3.6%, tickets are back to the dense network's accuracy": "not reproduced",
        "At 2.9%, tickets are still not below the dense network": "reproduced",
        "At 21.1%, re-initialised tickets are below the dense network (from 21.1% on)": "reproduced",
        "At 7.0%, re-initialised tickets are below the dense network (from 21.1% on)": "—",  # not run
        "At 3.6%, re-initialised tickets are below the dense network (from 21.1% on)": "reproduced",
        "At 1.9%, re-initialised tickets are below the dense network (from 21.1% on)": "—",
        "At 21.1%, the ticket reaches minimum validation loss 2.51× sooner than its re-initialisation":
            "direction reproduced, size differs",  # 3× sooner
        "At 21.1%, the ticket is about 0.5 points more accurate than its re-initialisation":
            "direction reproduced, size differs",  # 1.4 points
    }
    assert "| imp | 1 | 360 | 356 | 1400 |" in text


def test_runs_of_more_seeds_pool_and_another_numerics_mode_is_set_beside(tmp_path):
    from lthpipe import replication

    out = tmp_path / "docs"
    for name, seeds, numerics, shift in (("first", [0, 1, 2], "machine", 0.0), ("more", [3, 4], "machine", 0.0),
                                         ("cross", [0, 1, 2], "cross_cpu", -0.002)):
        write_synthetic_run(tmp_path / name, seeds, numerics, shift)
        replication.main(["--collect", str(tmp_path / name), "--name", name, "--out", str(out)])
    networks = replication.load_networks(out / "records")
    modes = replication.by_mode(networks)
    assert list(modes) == ["machine", "cross_cpu"]
    pooled = replication.Results(modes["machine"])
    assert sorted(pooled.get("dense", 0)) == [0, 1, 2, 3, 4] and sorted(pooled.get("rewind", 7)) == [0, 1, 2, 3, 4]
    text = (out / "results.md").read_text()
    assert "## Per level (5 seeds)" in text and "### The same in numerics mode cross_cpu (3 seeds)" in text
    assert "| ours, machine (5 seeds): mean [95% interval] | verdict, machine | ours, cross_cpu (3 seeds)" in text
    gap = next(line for line in text.splitlines() if line.startswith("| At 13.5%, tickets are more than"))
    assert gap.split(" | ")[2].startswith("+0.42 [") and gap.split(" | ")[4].startswith("+0.21 [")
    assert "### Run more" in text and "### Run cross" in text

    # The same network in two runs of one mode, or another data split, is refused.
    write_synthetic_run(tmp_path / "again", [2, 3], "machine")
    replication.collect(tmp_path / "again", out / "records" / "again")
    with pytest.raises(ValueError, match="dense of seed 2 at level 0 \\(machine\\) is in runs again and first"):
        replication.load_networks(out / "records")
    shutil.rmtree(out / "records" / "again")
    write_synthetic_run(tmp_path / "other", [5], "machine")
    (tmp_path / "other/data/data.json").write_text('{"stage": "data", "kind": "mnist", "n_train": [50000]}')
    replication.collect(tmp_path / "other", out / "records" / "other")
    with pytest.raises(ValueError, match="split the data differently: n_train"):
        replication.load_networks(out / "records")


@pytest.mark.parametrize(("expect", "value", "at_least", "interval", "verdict"), [
    ("above", 0.38, False, (0.2, 0.5), "reproduced"),
    ("above", 0.38, False, (0.05, 0.3), "direction reproduced, size differs"),
    ("above", 0.38, False, (-0.1, 0.5), "not reproduced (the interval includes no effect)"),
    ("above", 0.38, False, (-0.5, -0.1), "opposite"),
    ("above", 0.003, True, (0.004, 0.009), "reproduced"),  # "more than 0.3 points"
    ("above", 0.003, True, (0.001, 0.002), "direction reproduced, size differs"),
    ("below", None, False, (-0.02, -0.01), "reproduced"),
    ("below", None, False, (-0.02, 0.01), "not reproduced (the interval includes no effect)"),
    ("equal", 0.0, False, (-0.002, 0.001), "reproduced"),
    ("equal", 0.0, False, (0.001, 0.002), "not reproduced"),
    ("not_below", None, False, (-0.003, 0.001), "reproduced"),
    ("not_below", None, False, (-0.003, -0.001), "not reproduced (below)"),
])
def test_a_claims_verdict_reads_its_interval(expect, value, at_least, interval, verdict):
    from lthpipe.replication import Claim

    claim = Claim("s", "p", "points", lambda r: None, expect, value, at_least=at_least)
    assert claim.verdict(*interval) == verdict


def test_the_claims_levels_are_the_shares_the_paper_config_keeps():
    """The paper's sizes map to the levels config/paper_lenet.yaml prunes to, and its
    controls train where the claims need them."""
    from lthpipe.prune import kept_count
    from lthpipe.replication import CLAIMS, LEVEL_OF

    study = resolve(yaml.safe_load((REPO / "config/paper_lenet.yaml").read_text()))["mnist_lenet"]
    imp = study.settings.imp
    counts = {"w0": 784 * 300, "w1": 300 * 100, "w2": 100 * 10}
    shares = {}
    for level in range(1, imp.levels + 1):
        counts = {k: kept_count(n, 1 - (imp.output_rate if k == "w2" else imp.rate)) for k, n in counts.items()}
        shares[level] = round(100 * sum(counts.values()) / (784 * 300 + 300 * 100 + 100 * 10), 1)
    assert {share: shares[level] for share, level in LEVEL_OF.items()} == {share: share for share in LEVEL_OF}
    assert imp.levels_with_controls() == [LEVEL_OF[s] for s in (51.3, 21.1, 7.0, 3.6, 1.9)]
    assert {"reinit", "random_mask"} <= set(imp.control_methods()) and len(CLAIMS) == 11
