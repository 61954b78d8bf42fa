"""Nothing lost, nothing trusted that shouldn't be: jobs killed mid-training and
mid-write, an interrupted Snakemake, the same bits however a run is scheduled,
hostile configs and targets, a failing job, and more cores than the machine has."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lthpipe.artifacts import read_json, stale_temporaries, write_json
from lthpipe.config import ConfigError, resolve
from lthpipe import jobs as jobs_module
from lthpipe.jobs import JobSpec, job, job_usage
from test_config import GOOD, with_change
from test_workflow import AGGREGATE
from workflow_helpers import (
    announced_jobs, changed, clone, digests, fault_env, finished_jobids, most_jobs_at_once, planned_jobs, process_alive,
    run_all, run_in_workdirs, snakemake, snakemake_command, snapshot, start_snakemake, tiny_config, wait_for, write_config,
)

pytestmark = pytest.mark.workflow

# A job that dies mid-training: it stops itself as it logs its second epoch (of
# three), leaving its pid in a marker file, so the test kills it at a known point.
# The hooks pick their job by sys.argv when they act, not when they load: the warm
# worker (lthpipe.worker) loads them once, and its child takes each job's argv.
PAUSE_IN_TRAINING = """
import logging, os, signal, sys
from pathlib import Path

class PauseInTraining(logging.Handler):
    def emit(self, record):
        if sys.argv[0].endswith(".retrain.py") and record.getMessage().startswith("epoch 2:"):
            Path({marker!r}).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGSTOP)

logging.getLogger("lthpipe.train").addHandler(PauseInTraining())
"""

# A job that dies between writing a checkpoint's temporary and renaming it.
KILL_BEFORE_RENAME = """
import os, signal, sys

rename = os.replace

def replace(src, dst, *args, **kwargs):
    if sys.argv[0].endswith(".retrain.py") and str(dst).endswith("model.pt"):
        os.kill(os.getpid(), signal.SIGKILL)
    return rename(src, dst, *args, **kwargs)

os.replace = replace
"""


def study(mnist_dir: Path) -> dict:
    """The tiny study; diabetes trains width 8 alone, so its retrain stack (64 hidden
    units) meets a 10-row last minibatch."""
    config = tiny_config(mnist_dir)
    config["datasets"]["diabetes"]["widths"] = [8]
    del config["inference"]  # timings differ from run to run; these tests compare bits
    return config


# More cores than this machine has, whatever it has: each job keeps its one thread.
MORE_CORES = (os.cpu_count() or 1) + 2


@pytest.fixture(scope="module")
def studies(tmp_path_factory, mnist_dir) -> dict[str, Path]:
    """The whole study twice, side by side: on one core (one job at a time), and with
    --cores MORE_CORES, two more than the machine has (as many jobs at once)."""
    root = tmp_path_factory.mktemp("robust")
    runs = {name: root / name for name in ("one_core", "more_cores")}
    for workdir in runs.values():
        workdir.mkdir()
        write_config(workdir, study(mnist_dir))
    runs["more_cores_output"] = root / "more_cores.out"
    more = start_snakemake(runs["more_cores"], "--cores", str(MORE_CORES), log=runs["more_cores_output"])
    try:
        snakemake(runs["one_core"], "--cores", "1")
        assert more.wait(timeout=1800) == 0, runs["more_cores_output"].read_text()
    finally:
        more.kill()
    return runs


@pytest.fixture(scope="module")
def one_core(studies) -> Path:
    """The reference every other run is compared with."""
    return studies["one_core"]


def remove(workdir: Path, *paths: str) -> None:
    for rel in paths:
        path = workdir / rel
        shutil.rmtree(path) if path.is_dir() else path.unlink()


def temporaries(workdir: Path) -> list[Path]:
    return sorted((workdir / "artifacts").rglob("*.tmp"))


# 1. Atomic artifacts under SIGKILL.


def test_a_job_killed_mid_training_reruns_to_the_same_bits(one_core, tmp_path):
    workdir = clone(one_core, tmp_path)
    folder = "artifacts/mnist/retrain/f0.200"
    remove(workdir, folder)
    marker = tmp_path / "paused.pid"
    env = fault_env(tmp_path / "hook", PAUSE_IN_TRAINING.format(marker=str(marker)))
    run = start_snakemake(workdir, "--cores", "2", f"{folder}/model.json", log=tmp_path / "killed.out", env=env)
    wait_for(marker.exists, "the retrain job to reach its second epoch", process=run)
    os.kill(int(marker.read_text()), signal.SIGKILL)  # as the OOM killer would
    assert run.wait(timeout=300) != 0
    log = (workdir / "artifacts/mnist/logs/retrain/f0.200.log").read_text()
    assert "Error in rule retrain" in (tmp_path / "killed.out").read_text()
    assert "epoch 1:" in log and "epoch 3:" not in log
    assert not (workdir / folder).exists() or not any((workdir / folder).iterdir())  # not even a temporary
    snakemake(workdir, "--cores", "2", f"{folder}/model.json")  # the same command again
    assert digests(workdir) == digests(one_core)
    assert not temporaries(workdir)


def test_a_job_killed_between_write_and_rename_leaves_no_file_and_its_rerun_no_litter(one_core, tmp_path):
    workdir = clone(one_core, tmp_path)
    folder = workdir / "artifacts/diabetes/retrain/f0.050"
    remove(workdir, "artifacts/diabetes/retrain/f0.050")
    env = fault_env(tmp_path / "hook", KILL_BEFORE_RENAME)
    killed = snakemake(workdir, "--cores", "2", "artifacts/diabetes/retrain/f0.050/model.json", env=env, check=False)
    assert killed.returncode != 0 and "Error in rule retrain" in killed.stdout + killed.stderr
    # The checkpoint was written in full under its temporary name, then the job died.
    assert not (folder / "model.pt").exists() and not (folder / "model.json").exists()
    assert [p.name.startswith(".model.pt.") for p in temporaries(workdir)] == [True]
    # The same command again: the job's next attempt clears the stale temporary.
    snakemake(workdir, "--cores", "2", "artifacts/diabetes/retrain/f0.050/model.json")
    assert not temporaries(workdir)
    assert "left by an earlier attempt" in (workdir / "artifacts/diabetes/logs/retrain/f0.050.log").read_text()
    assert digests(workdir) == digests(one_core)


def test_death_before_rename_keeps_the_old_file_and_the_next_job_clears_the_temporary(tmp_path, monkeypatch):
    target = tmp_path / "record.json"
    write_json(target, {"version": 1})
    die_in_rename = (
        "import os, signal, sys\n"
        "from lthpipe import artifacts\n"
        "artifacts.os.replace = lambda src, dst: os.kill(os.getpid(), signal.SIGKILL)\n"
        "artifacts.write_json(sys.argv[1], {'version': 2})\n"
    )
    died = subprocess.run([sys.executable, "-c", die_in_rename, str(target)], capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL
    assert read_json(target) == {"version": 1}
    [stale] = stale_temporaries(target)
    assert json.loads(stale.read_text()) == {"version": 2}  # written in full, never renamed
    bystanders = [tmp_path / ".other.json.abc.tmp", tmp_path / "record.json.tmp"]
    for path in bystanders:
        path.write_text("not ours")
    spec = JobSpec(rule="r", wildcards={}, threads=1, log=str(tmp_path / "job.log"), outputs=(str(target),), numerics=None)
    # The job's clock and its process's usage, as the kernel would report them: 2.5 s of
    # wall time, 1.5 s user and 0.5 s system CPU, a peak of 300 MB (ru_maxrss in KB).
    clock = iter([100.0, 102.5])
    usage = SimpleNamespace(ru_utime=1.5, ru_stime=0.5, ru_maxrss=300 * 1024)
    monkeypatch.setattr(jobs_module, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    monkeypatch.setattr(jobs_module, "resource", SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage))
    root, saved = logging.getLogger(), logging.getLogger().handlers[:]
    try:
        with job(spec):
            pass
    finally:
        root.handlers[:] = saved  # job() points the root logger at its log, now closed
    assert not stale.exists() and all(path.exists() for path in bystanders)
    assert read_json(target) == {"version": 1}
    assert str(stale) in (tmp_path / "job.log").read_text()
    # The log ends with what the job used, and reads back as exactly that.
    assert (tmp_path / "job.log").read_text().rstrip().endswith("2.5 s, CPU 2.0 s, peak memory 300 MB")
    assert job_usage(tmp_path / "job.log") == (2.5, 2.0, 300)


# 2. Interrupting Snakemake itself.


def test_an_interrupted_run_resumes_to_the_same_bits_without_redoing_finished_jobs(one_core, tmp_path):
    workdir = clone(one_core, tmp_path)
    # Everything of mnist after its dense network: 8 jobs, from pruning on.
    mnist = [f"artifacts/mnist/{name}" for name in ("prune", "retrain", *AGGREGATE)]
    remove(workdir, *mnist, "artifacts/summary.md", "artifacts/summary.png")
    marker = tmp_path / "paused.pid"
    env = fault_env(tmp_path / "hook", PAUSE_IN_TRAINING.format(marker=str(marker)))
    out_path = tmp_path / "interrupted.out"
    run = start_snakemake(workdir, "--cores", "4", log=out_path, env=env)
    wait_for(marker.exists, "a retrain job in mid-training", process=run)
    os.killpg(run.pid, signal.SIGKILL)  # kill -9 of Snakemake and its jobs, as when a session dies
    run.wait()
    paused = int(marker.read_text())  # the stopped job's process, a child of the warm worker
    wait_for(lambda: not process_alive(paused), "the stopped job to end with Snakemake")
    out = out_path.read_text()
    jobs = {job["jobid"]: job for job in announced_jobs(out)}
    finished = {path for jobid in finished_jobids(out) for path in jobs[jobid]["output"]}
    unfinished = {path for jobid in jobs.keys() - finished_jobids(out) for path in jobs[jobid]["output"]}
    assert finished and any("/retrain/" in path for path in unfinished)
    before = snapshot(workdir)
    assert finished <= before.keys()

    # A killed Snakemake leaves its lock: the next run refuses until told it is stale.
    refused = snakemake(workdir, "--cores", "4", check=False)
    assert refused.returncode != 0 and "--unlock" in refused.stdout + refused.stderr
    assert snapshot(workdir) == before
    snakemake(workdir, "--unlock")
    snakemake(workdir, "--cores", "4")  # rerun-incomplete (the default profile) redoes the killed jobs
    assert not changed(before, snapshot(workdir)) & finished
    assert digests(workdir) == digests(one_core)
    assert not temporaries(workdir)


# 3. The same bits, however the work is scheduled.


def test_rebuilding_a_deleted_stage_gives_the_same_bits(one_core, tmp_path):
    workdir = clone(one_core, tmp_path)
    # Snakemake trusts outputs whose inputs were deleted (snakemake/snakemake#1978): a
    # deleted stage is rebuilt when asked for, by name or by deleting what follows it.
    remove(workdir, "artifacts/diabetes/retrain/f0.050")
    assert planned_jobs(workdir) == []
    downstream = ["dense", "prune", "retrain", *AGGREGATE]
    remove(workdir, *(f"artifacts/diabetes/{name}" for name in downstream))
    before = snapshot(workdir)
    snakemake(workdir, "--cores", "4")
    rebuilt = changed(before, snapshot(workdir))
    assert {"artifacts/diabetes/dense/model.pt", "artifacts/diabetes/prune/f0.050/masks.pt"} <= rebuilt
    assert digests(workdir) == digests(one_core)


def test_one_core_and_more_cores_than_the_machine_has_give_the_same_bits(one_core, studies):
    workdir = studies["more_cores"]
    # Not vacuous: with more cores, training jobs really ran side by side.
    output = studies["more_cores_output"].read_text()
    assert most_jobs_at_once(output) > 1
    assert digests(workdir) == digests(one_core)


def test_a_job_in_its_own_process_writes_the_bits_of_one_in_the_warm_worker(one_core, tmp_path):
    """LTHPIPE_WORKER=0 (as inside a SLURM job): every torch stage imports torch
    itself, and writes what the worker's children wrote."""
    workdir = clone(one_core, tmp_path)
    rebuilt = ["artifacts/mnist/retrain/f0.200", "artifacts/swiss_roll/width", "artifacts/diabetes/prune/f0.050"]
    remove(workdir, *rebuilt)
    targets = ["artifacts/mnist/retrain/f0.200/model.json", "artifacts/swiss_roll/width/selection.json",
               "artifacts/diabetes/prune/f0.050/masks.json"]
    snakemake(workdir, "--cores", "2", *targets, env={**os.environ, "LTHPIPE_WORKER": "0"})
    assert digests(workdir) == digests(one_core)
    own = (workdir / "artifacts/mnist/logs/retrain/f0.200.log").read_text()
    warm = (one_core / "artifacts/mnist/logs/retrain/f0.200.log").read_text()
    assert "running in the job's own process" in own and "running in a child of the warm worker" in warm


TRAIN_WITH_THREADS = """
import hashlib, sys, torch
from lthpipe import numerics; numerics.use("machine")  # as pipeline jobs do
from lthpipe.datasets import load_dataset
from lthpipe.model import init_params, stack
from lthpipe.settings import TrainSettings
from lthpipe.train import train_stack

torch.set_num_threads(int(sys.argv[2]))
data = load_dataset(sys.argv[1], "diabetes")
arch = data.architecture((32,))
init = stack([init_params(arch, seed, "init") for seed in range(12)])
trained = train_stack(init, data.folds[0], TrainSettings(epochs=3, lr=0.003, batch_size=32), 0).best
print(hashlib.sha256(b"".join(trained[k].numpy().tobytes() for k in sorted(trained))).hexdigest())
"""


@pytest.mark.parametrize("threads", [1, 2])
def test_a_thread_count_gives_the_same_bits_in_every_process(one_core, threads):
    """What the README promises for `threads` > 1: the bits depend on the thread count
    (MKL may split a small product's sum across threads), never on the run."""
    data = str(one_core / "artifacts/diabetes/data/data.pt")
    command = [sys.executable, "-c", TRAIN_WITH_THREADS, data, str(threads)]
    bits = {subprocess.run(command, capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(bits) == 1 and len(next(iter(bits)).strip()) == 64


# 4. Hostile configuration and targets.

MORE_BAD = [
    ("datasets.swiss_roll.widths", [8.0], "datasets.swiss_roll.widths.0"),  # would name w8.0.json
    ("defaults.train.epochs", 3.0, "defaults.train.epochs"),
    ("defaults.seeds", [1.0], "defaults.seeds.0"),
    ("defaults.widths", [True], "defaults.widths.0"),
    ("defaults.seeds", [], "defaults.seeds"),
    ("defaults.seeds", [1, 1], "defaults.seeds"),
    ("datasets.swiss_roll.widths", [4, 4], "datasets.swiss_roll.widths"),
    ("defaults.threads", 0, "defaults.threads"),
    ("defaults.threads", "2", "defaults.threads"),
    ("defaults.fractions", [math.nan], "defaults.fractions.0"),
    ("defaults.train.lr", math.inf, "defaults.train.lr"),
    ("defaults.fractions", ["0.5"], "defaults.fractions.0"),
    ("defaults.fractions", [1e-300], "fractions"),  # would be f0.000
    ("defaults.fractions", [0.5, 0.5000000000001], "fractions"),  # two fractions, one path
    ("datasets", {}, "datasets"),
    ("datasets.mnist", [], "datasets.mnist"),
    ("datasets.mnist", None, "datasets.mnist"),
    ("order_seed", -1, "order_seed"),
]


def with_dataset(name: str) -> dict:
    config = copy.deepcopy(GOOD)
    config["datasets"][name] = {"source": {"kind": "sklearn", "name": "iris"}}
    return config


@pytest.mark.parametrize(("path", "value", "key"), MORE_BAD, ids=[f"{p}={v!r}" for p, v, _ in MORE_BAD])
def test_more_bad_configs_are_rejected_naming_the_key(path, value, key):
    with pytest.raises(ConfigError, match=f"config key '{key}'"):
        resolve(with_change(path, value))


def test_dataset_names_that_would_leave_artifacts_are_rejected():
    for name in ("../x", "/tmp/x", "mnist/../../x", ""):
        with pytest.raises(ConfigError, match="config key 'datasets'"):
            resolve(with_dataset(name))


# One bad config per kind, each through Snakemake.
SNAKEMAKE_BAD = {
    "unknown key": (with_change("defaults.epochs", 3), "defaults"),
    "wrong type": (with_change("datasets.mnist.train.epochs", "ten"), "datasets.mnist.train.epochs"),
    "fraction out of range": (with_change("defaults.fractions", [1.5]), "defaults.fractions.0"),
    "fraction duplicated": (with_change("defaults.fractions", [0.5, 0.5000000000001]), "fractions"),
    "empty list": (with_change("defaults.methods", []), "defaults.methods"),
    "dataset escaping artifacts": (with_dataset("../x"), "datasets"),
    "width not a positive integer": (with_change("datasets.swiss_roll.widths", [8.0]), "datasets.swiss_roll.widths.0"),
}


@pytest.fixture(scope="module")
def rejected_configs(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    workdirs = {}
    for name, (config, _) in SNAKEMAKE_BAD.items():
        workdirs[name] = tmp_path_factory.mktemp("bad")
        (workdirs[name] / "config.yaml").write_text(yaml.safe_dump(config))
    return run_in_workdirs(workdirs, "--cores", "1")


@pytest.mark.parametrize("kind", SNAKEMAKE_BAD)
def test_snakemake_rejects_a_bad_config_before_any_job_naming_the_key(rejected_configs, kind):
    workdir, result = rejected_configs[kind]
    assert result.returncode != 0
    assert "invalid configuration: config key" in result.stdout
    assert f"config key '{SNAKEMAKE_BAD[kind][1]}'" in result.stdout
    assert not (workdir / "artifacts").exists() and not (workdir / "x").exists()


HOSTILE_TARGETS = [
    "artifacts/../x/curve.png",
    "artifacts/foo/curve.png",
    "artifacts/mnist/prune/f../../../../x/masks.pt",
    "artifacts/mnist/width/w../../x.json",
    "artifacts/mnist/prune/f0.000/masks.pt",
    "/tmp/lthpipe-elsewhere/artifacts/mnist/curve.png",
]


def test_targets_outside_the_study_have_no_rule(one_core, tmp_path):
    workdir = clone(one_core, tmp_path)
    commands = {t: (snakemake_command(workdir, "--dry-run", "--nolock", t), workdir) for t in HOSTILE_TARGETS}
    control = "artifacts/mnist/prune/f0.333/masks.pt"  # a fraction outside the config is a fair target
    commands[control] = (snakemake_command(workdir, "--dry-run", "--nolock", control), workdir)
    results = run_all(commands)
    planned = announced_jobs(results.pop(control).stdout)
    assert [(j["rule"], j["output"][0]) for j in planned] == [("prune", control)]
    for target, result in results.items():
        assert result.returncode != 0, target
        assert "MissingRuleException" in result.stdout and "No rule to produce" in result.stdout, target
    assert not (tmp_path / "x").exists() and not Path("/tmp/lthpipe-elsewhere").exists()
    assert digests(workdir) == digests(one_core)


# 5. A failing job.


def test_a_failing_job_shows_its_log_and_keep_going_finishes_the_rest(one_core, tmp_path, mnist_dir):
    workdir = clone(one_core, tmp_path)
    config = study(mnist_dir)
    config["datasets"]["mnist"]["source"]["local_dir"] = str(tmp_path / "empty")  # as if the data vanished
    (tmp_path / "empty").mkdir()
    write_config(workdir, config)
    remove(workdir, "artifacts/diabetes/retrain/f0.050", *(f"artifacts/diabetes/{f}" for f in AGGREGATE))
    before = snapshot(workdir)
    result = snakemake(workdir, "--cores", "2", "--keep-going", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0 and "Error in rule make_data" in out
    log = "artifacts/mnist/logs/make_data.log"
    assert f"log: {log}" in out and "lacks" in (workdir / log).read_text()
    assert "lacks" in out.split(f"Logfile {log}:", 1)[1]  # show-failed-logs: the log's content follows
    rebuilt = changed(before, snapshot(workdir))
    assert {"artifacts/diabetes/curve.csv", "artifacts/diabetes/retrain/f0.050/model.pt"} <= rebuilt
    assert "artifacts/summary.md" not in rebuilt  # needs mnist
    reference = digests(one_core)
    unaffected = {path: reference[path] for path in reference if "/mnist/" not in path and "summary." not in path}
    assert unaffected.items() <= digests(workdir).items()


# Bad data: "refused by the data job, before any training, naming the file, the column
# and the fix, and nothing half-written stays behind" (README, "Your own data").
BAD_TABLES = {
    "a single class": ("a,b,y\n" + "".join(f"{i},{2 * i},x\n" for i in range(30)), "holds a single class"),
    "text features": ("a,colour,y\n" + "".join(f"{i},{('red', 'blue')[i % 2]},{i % 2}\n" for i in range(30)),
                      "non-numeric feature columns"),
}


@pytest.fixture(scope="module")
def refused_data(tmp_path_factory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    workdirs = {}
    for problem, (table, _) in BAD_TABLES.items():
        workdir = workdirs[problem] = tmp_path_factory.mktemp("bad_data")
        (workdir / "data").mkdir()
        (workdir / "data" / "t.csv").write_text(table)
        write_config(workdir, {"device": "cpu", "datasets": {"t": {
            "source": {"kind": "csv", "path": "data/t.csv", "target": "y"}, "hidden": [2], "seeds": [0],
            "fractions": [1.0], "train": {"epochs": 1},
        }}})
    return run_in_workdirs(workdirs, "--cores", "1")


@pytest.mark.parametrize("problem", BAD_TABLES)
def test_bad_data_is_refused_by_the_data_job_naming_the_file_and_nothing_stays_behind(refused_data, problem):
    workdir, result = refused_data[problem]
    assert result.returncode != 0
    jobs = [job["rule"] for job in announced_jobs(result.stdout) if job["rule"] != "all"]
    assert "Error in rule make_data" in result.stdout and finished_jobids(result.stdout) == set()
    # The file and the problem, on one line.
    assert any("data/t.csv: " in line and BAD_TABLES[problem][1] in line for line in result.stdout.splitlines())
    assert jobs[0] == "make_data"
    # Only the job's log is left: no data file, no temporary, nothing of a later stage.
    left = sorted(str(p.relative_to(workdir / "artifacts")) for p in (workdir / "artifacts").rglob("*") if p.is_file())
    assert left == ["t/logs/make_data.log"]
    assert BAD_TABLES[problem][1] in (workdir / "artifacts/t/logs/make_data.log").read_text()


# 6. More cores than the machine has.


def test_more_cores_than_the_machine_has_write_every_file_once_and_leave_no_temporaries(studies):
    workdir, out = studies["more_cores"], studies["more_cores_output"].read_text()
    assert MORE_CORES > (os.cpu_count() or 1)
    assert f"Provided cores: {MORE_CORES}" in out
    jobs = [job for job in announced_jobs(out) if job["rule"] != "all"]
    assert len(jobs) == 40 and finished_jobids(out) >= {job["jobid"] for job in jobs}
    written = Counter(path for job in jobs for path in job["output"] + job["log"] + job["benchmark"])
    assert written and max(written.values()) == 1
    assert not temporaries(workdir)
    assert planned_jobs(workdir) == []
