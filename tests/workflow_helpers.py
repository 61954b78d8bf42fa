"""Running the workflow in a scratch folder, reading what it plans and did, and injecting faults."""

from __future__ import annotations

import copy
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests" / "tiny.yaml").read_text())


def tiny_config(mnist_dir: Path) -> dict:
    config = copy.deepcopy(TINY)
    config["datasets"]["mnist"]["source"]["local_dir"] = str(mnist_dir)
    return config


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_command(workdir: Path, *args: str, project: Path = REPO) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(project / "Snakefile"), "-d", str(workdir),
            "--configfile", str(workdir / "config.yaml"), *args]


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float | None = None,
    project: Path = REPO,
) -> subprocess.CompletedProcess:
    command = snakemake_command(workdir, *args, project=project)
    if project != REPO:
        env = project_env(project, env)
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path, project: Path = REPO) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run would run, the target rule 'all' left out."""
    output = snakemake(workdir, "--dry-run", project=project).stdout
    return [(job["rule"], job["wildcards"]) for job in announced_jobs(output) if job["rule"] != "all"]


# What a copy of the project needs to run the workflow with its own library code.
PROJECT_PARTS = ("Snakefile", "rules", "scripts", "report", "lthpipe")


def copy_project(target: Path) -> Path:
    """The workflow and the lthpipe package copied to target, for a test to edit;
    run it with snakemake(..., project=target), which imports lthpipe from the copy."""
    for part in PROJECT_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, target / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / part)
    return target


def project_env(project: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose Python processes import lthpipe from project (PYTHONPATH
    comes before the editable install's finder, which is appended to sys.meta_path)."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(project), env.get("PYTHONPATH")) if p)
    return env


def announced_jobs(output: str) -> list[dict]:
    """The jobs Snakemake announces in its output (a run's or a dry run's): rule,
    jobid, wildcards and the files it writes (output, log, benchmark)."""
    jobs: list[dict] = []
    current = None
    for line in output.splitlines():
        header = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if header:
            current = {"rule": header.group(1), "jobid": None, "wildcards": {}}
            current.update({key: [] for key in ("output", "log", "benchmark")})
            jobs.append(current)
        elif current is not None and line.startswith("    "):
            key, _, value = line.strip().partition(": ")
            if key == "wildcards":
                current["wildcards"].update(pair.split("=", 1) for pair in value.split(", "))
            elif key in ("output", "log", "benchmark"):
                current[key] = value.split(", ")
            elif key == "jobid":
                current["jobid"] = int(value)
        else:
            current = None  # e.g. an "Error in rule ..." block repeats these keys
    return jobs


def finished_jobids(output: str) -> set[int]:
    return {int(jobid) for jobid in re.findall(r"^Finished jobid: (\d+)", output, re.MULTILINE)}


def most_jobs_at_once(output: str) -> int:
    """The most jobs a run's output shows started and not yet finished at one time."""
    running: set[str] = set()
    most = 0
    for started, finished in re.findall(r"^    jobid: (\d+)$|^Finished jobid: (\d+)", output, re.MULTILINE):
        if started:
            running.add(started)
            most = max(most, len(running))
        else:
            running.discard(finished)
    return most


def artifact_files(workdir: Path) -> list[Path]:
    """Every artifact; logs, timings and the MNIST download aside."""
    root = workdir / "artifacts"
    return [p for p in root.rglob("*") if p.is_file() and not {"logs", "benchmarks", "torchvision"} & set(p.parts)]


def clone(workdir: Path, tmp_path: Path) -> Path:
    """A copy of a run's folder, .snakemake and dates included, for a test to change."""
    copy = tmp_path / "clone"
    shutil.copytree(workdir, copy, symlinks=True)
    return copy


def snapshot(workdir: Path) -> dict[str, int]:
    """Modification time of every artifact."""
    return {str(p.relative_to(workdir)): p.stat().st_mtime_ns for p in artifact_files(workdir)}


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}


def digests(workdir: Path) -> dict[str, str]:
    """SHA-256 of every artifact: two runs agree bit for bit when these do."""
    return {str(p.relative_to(workdir)): hashlib.sha256(p.read_bytes()).hexdigest() for p in artifact_files(workdir)}


def start_snakemake(workdir: Path, *args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Snakemake in the background, its output in `log`, in a process group of its
    own that a test can signal as a terminal's Ctrl-C would: Snakemake and its jobs."""
    with open(log, "w") as out:
        return subprocess.Popen(snakemake_command(workdir, *args), stdout=out, stderr=subprocess.STDOUT,
                                cwd=workdir, env=env, start_new_session=True)


def wait_for(condition, what: str, timeout: float = 300, process: subprocess.Popen | None = None) -> None:
    """Poll until condition() holds; fail after timeout, or when process ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"gave up waiting for {what}: the process ended ({process.returncode})")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout} s")
        time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def fault_env(folder: Path, hook: str) -> dict[str, str]:
    """An environment whose Python processes (Snakemake's jobs among them) first
    run `hook`, as a sitecustomize module; the hook picks its process by sys.argv."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(hook)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_in_workdirs(workdirs: dict[str, Path], *args: str) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """Snakemake with args in each prepared folder (its config.yaml written), side by
    side: each folder and its result, by name."""
    results = run_all({name: (snakemake_command(workdir, *args), workdir) for name, workdir in workdirs.items()})
    return {name: (workdirs[name], result) for name, result in results.items()}


def run_all(commands: dict[str, tuple[list[str], Path]]) -> dict[str, subprocess.CompletedProcess]:
    """Run commands side by side, each in its folder; their results (output and
    errors together in stdout) by name."""
    running = {
        name: subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for name, (command, cwd) in commands.items()
    }
    outputs = {name: proc.communicate()[0] for name, proc in running.items()}
    return {name: subprocess.CompletedProcess(proc.args, proc.returncode, outputs[name], "")
            for name, proc in running.items()}
