"""The tiny study through profiles/slurm on a one-node SLURM that this module starts:
every job but the reports goes through sbatch, the artifacts equal a local run's, and a
job that runs out of memory fails with its logs named while --keep-going finishes the rest."""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from lthpipe import checkpoint
from lthpipe.artifacts import read_json
from test_workflow import AGGREGATE
from workflow_helpers import (
    REPO, artifact_files, changed, clone, planned_jobs, snakemake, snapshot, tiny_config, write_config,
)

PROFILE = REPO / "profiles" / "slurm"
# Not in the venv: snakemake imports every installed executor plugin, and this one asks
# slurmctld for its config at import, ~10 s a call where a slurm.conf names one that is down.
PLUGIN_DIR = REPO / ".slurm-plugin"
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
TOOLS = ("munged", "slurmctld", "slurmd", "sbatch")
# Every rule but the reports (localrules) goes through sbatch.
REMOTE_RULES = {"make_data", "train_width", "train_dense", "prune", "retrain", "imp", "decision_regions",
                "export_network", "benchmark_inference"}
# The first status check after 2 s, not the plugin's 40: these jobs take seconds.
ON_SLURM = ("--profile", str(PROFILE), "--slurm-init-seconds-before-status-checks", "2")


def have_slurm() -> bool:
    return all(shutil.which(tool) for tool in TOOLS)


pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(
        not have_slurm() and not (os.geteuid() == 0 and shutil.which("apt-get")),
        reason=f"needs SLURM and munge ({', '.join(TOOLS)}), or root and apt-get to install them",
    ),
]

SLURM_CONF = """\
ClusterName=lthpipe-test
SlurmctldHost=localhost
SlurmUser={user}
SlurmdUser={user}
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
# No cgroups and no accounting database: nothing outside this folder is needed.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Memory limits without cgroups: slurmstepd sums a step's memory every second and kills
# the step above its --mem. PSS, not RSS, which would count torch's shared libraries once
# per process and put a small dataset's srun step (Snakemake and the script) near 1000 MB.
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=UsePss,OverMemoryKill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
# squeue, the profile's status command, lists a finished job this long; the test
# reads the jobs back afterwards.
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def node_size() -> tuple[int, int]:
    """The node: this machine's CPUs, and 90% of its memory in MB as slurmd counts it
    (sysconf). A node configured larger than the machine is set to INVALID and runs
    nothing; smaller is fine."""
    memory_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    return os.cpu_count() or 1, memory_mb * 9 // 10


def run(command: list[str], env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise AssertionError(f"{shlex.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def install_slurm() -> None:
    """Debian's packages; nothing starts them, there is no systemd."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run(["apt-get", "update", "-qq"], env)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], env)


def install_plugin(target: Path) -> None:
    """pip install --target the plugin and the dependencies the venv lacks (a dry run
    against the venv names them); renamed into place when complete."""
    import tomllib  # Python 3.11+, as Snakemake 9 is; imported here so collection never needs it

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    report = json.loads(run([*pip, "--dry-run", "--report", "-", *extras["slurm"]]))
    pins = [f"{p['metadata']['name']}=={p['metadata']['version']}" for p in report["install"]]
    partial = target.with_name(f"{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    run([*pip, "--no-deps", "--target", str(partial), *pins])
    partial.rename(target)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_cluster(root: Path) -> Path:
    """slurm.conf, a munge key and an srun wrapper in root; returns slurm.conf."""
    (root / "state").mkdir()
    (root / "spool").mkdir()
    partition = yaml.safe_load((PROFILE / "config.yaml").read_text())["default-resources"]["slurm_partition"]
    conf = root / "slurm.conf"
    cpus, memory_mb = node_size()
    conf.write_text(SLURM_CONF.format(
        user=getpass.getuser(), ctld_port=free_port(), slurmd_port=free_port(), root=root, partition=partition,
        cpus=cpus, memory_mb=memory_mb,
    ))
    key = os.open(root / "munge.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(key, os.urandom(1024))
    os.close(key)
    # The jobstep plugin drops SLURM_* (SLURM_CONF too) from the environment of the srun
    # it runs in each job, and srun would then look for /etc/slurm/slurm.conf.
    srun = root / "bin" / "srun"
    srun.parent.mkdir()
    srun.write_text(f'#!/bin/sh\nSLURM_CONF={shlex.quote(str(conf))} exec {shutil.which("srun")} "$@"\n')
    srun.chmod(0o755)
    return conf


def start(command: list[str], output: Path, env: dict[str, str]) -> subprocess.Popen:
    with output.open("w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_for_cluster(ready: Callable[[], bool], what: str, daemons: list[subprocess.Popen], root: Path) -> None:
    """Poll ready(); fail with the daemons' logs after a minute or when one of them ends."""
    deadline = time.monotonic() + 60
    while not ready():
        if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
            logs = sorted([*root.glob("*.log"), *root.glob("*.out")])
            raise AssertionError(f"no {what}:\n" + "\n".join(f"== {p}\n{p.read_text()[-2000:]}" for p in logs))
        time.sleep(0.5)


def node_state(env: dict[str, str]) -> str:
    result = subprocess.run(["sinfo", "--noheader", "--Node", "--format=%T"], capture_output=True, text=True, env=env)
    return result.stdout.strip()


def stop(daemons: list[subprocess.Popen]) -> None:
    """End each daemon by its pid, the last started first."""
    for daemon in reversed(daemons):
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


@pytest.fixture(scope="module")
def plugin_dir() -> Path:
    """The plugin in its own folder, kept between runs (delete it to reinstall)."""
    if not PLUGIN_DIR.is_dir():
        install_plugin(PLUGIN_DIR)
    return PLUGIN_DIR


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, plugin_dir) -> Iterator[dict[str, str]]:
    """munged, slurmctld and slurmd of one localhost node, run as this user in a temporary
    folder; yields the environment for snakemake and SLURM's commands."""
    if not have_slurm():
        install_slurm()
    root = tmp_path_factory.mktemp("slurm")
    conf = write_cluster(root)
    env = {
        **os.environ,
        "SLURM_CONF": str(conf),
        "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_dir), os.environ.get("PYTHONPATH")])),
    }
    # --force: munged refuses a socket in a folder others cannot enter, as pytest's are.
    munged = ["munged", "--foreground", "--force", f"--key-file={root}/munge.key", f"--socket={root}/munge.sock",
              f"--pid-file={root}/munged.pid", f"--seed-file={root}/munged.seed", f"--log-file={root}/munged.log"]
    daemons: list[subprocess.Popen] = []
    try:
        daemons.append(start(munged, root / "munged.out", env))
        wait_for_cluster((root / "munge.sock").exists, "munge socket", daemons, root)
        daemons.append(start(["slurmctld", "-D"], root / "slurmctld.out", env))
        daemons.append(start(["slurmd", "-D", "-N", "localhost"], root / "slurmd.out", env))
        wait_for_cluster(lambda: node_state(env) == "idle", "idle node in sinfo", daemons, root)
        yield env
        # Jobs of a run that failed or timed out would outlive slurmd.
        subprocess.run(["scancel", "--user", getpass.getuser()], capture_output=True, env=env)
    finally:
        stop(daemons)


@pytest.fixture(scope="module")
def on_slurm(cluster, mnist_dir, tmp_path_factory) -> Path:
    """The tiny study run through profiles/slurm."""
    workdir = tmp_path_factory.mktemp("on_slurm")
    write_config(workdir, tiny_config(mnist_dir))
    snakemake(workdir, *ON_SLURM, env=cluster, timeout=600)
    return workdir


def slurm_jobs(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """Comment -> state of the batch jobs SLURM ran in workdir; the plugin comments each
    job with rule_<rule>_wildcards_<values>."""
    jobs = {}
    for line in run(["scontrol", "show", "job", "--oneliner"], env).splitlines():
        fields = dict(field.split("=", 1) for field in line.split() if "=" in field)
        if fields.get("WorkDir") == str(workdir) and fields.get("BatchFlag") == "1":
            jobs[fields["Comment"]] = fields["JobState"]
    return jobs


def contents(workdir: Path) -> dict[str, Any]:
    """Each stage's JSON record and each checkpoint's tensors, by path."""
    return {
        str(p.relative_to(workdir)): checkpoint.load(p)[0] if p.suffix == ".pt" else read_json(p)
        for p in artifact_files(workdir)
        if p.suffix in (".json", ".pt") and not p.name.startswith("inference.")  # timings differ from run to run
    }


def same(a: Any, b: Any) -> bool:
    """Equal to the bit: records as parsed, tensors by torch.equal."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def test_every_job_but_the_reports_went_through_sbatch(on_slurm, cluster, mnist_dir, tmp_path):
    write_config(tmp_path, tiny_config(mnist_dir))
    expected = {
        f"rule_{rule}_wildcards_{'_'.join(wildcards.values())}"
        for rule, wildcards in planned_jobs(tmp_path)
        if rule in REMOTE_RULES
    }
    assert len(expected) == 35
    assert slurm_jobs(cluster, on_slurm) == dict.fromkeys(expected, "COMPLETED")


def test_artifacts_equal_a_local_run(on_slurm, built):
    local, remote = contents(built), contents(on_slurm)
    assert sorted(remote) == sorted(local)
    assert [name for name in local if not same(local[name], remote[name])] == []


def test_a_job_out_of_memory_fails_with_its_logs_and_keep_going_finishes_the_rest(on_slurm, cluster, tmp_path):
    """Two independent retrain jobs again; diabetes's asks for 20 MB, which Snakemake alone
    (about 100 MB) exceeds on the node, so SLURM kills it within seconds."""
    workdir = clone(on_slurm, tmp_path)
    before = snapshot(workdir)
    forced = [f"artifacts/{dataset}/retrain/f0.050/model.json" for dataset in ("diabetes", "swiss_roll")]
    # A --set-resources given here replaces the profile's, which only lengthen MNIST's jobs.
    result = snakemake(workdir, *ON_SLURM, "--keep-going", "--forcerun", *forced, "--set-resources",
                       "retrain:mem_mb=20 if wildcards.dataset == 'diabetes' else 1000",
                       env=cluster, timeout=300, check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    # Killed by the memory poll, the job ends FAILED (signal 9); OUT_OF_MEMORY is the
    # state where cgroups enforce the limit.
    assert slurm_jobs(cluster, workdir) == {
        "rule_retrain_wildcards_diabetes_0.050": "FAILED",
        "rule_retrain_wildcards_swiss_roll_0.050": "COMPLETED",
    }
    assert "SLURM status is: 'FAILED'" in out
    # The error names the rule's log and SLURM's log of the job, which holds slurmstepd's word.
    logs = re.search(r"^Error in rule retrain:\n(?:    .*\n)*?    log: (.+) \(check log", out, re.MULTILINE)
    rule_log, slurm_log = logs.group(1).split(", ")
    assert rule_log == "artifacts/diabetes/logs/retrain/f0.050.log"
    assert re.search(r"StepId=\d+\.batch exceeded memory limit \(\d+ > 20971520\), being killed",
                     (workdir / slurm_log).read_text())
    # The failed job's outputs are gone (Snakemake removes a failed job's outputs);
    # swiss_roll's retrain and report are new; summarize, which needs diabetes too, did not run.
    after = snapshot(workdir)
    assert set(before) - set(after) == {"artifacts/diabetes/retrain/f0.050/model.pt",
                                        "artifacts/diabetes/retrain/f0.050/model.json"}
    assert changed(before, after) == {
        *(f"artifacts/swiss_roll/retrain/f0.050/model.{ext}" for ext in ("pt", "json")),
        *(f"artifacts/swiss_roll/{name}" for name in AGGREGATE),
    }
