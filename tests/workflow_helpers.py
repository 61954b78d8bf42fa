"""Running the workflow in a scratch folder, and reading what a dry run plans."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = yaml.safe_load((REPO / "tests" / "tiny.yaml").read_text())


def tiny_config(mnist_dir: Path) -> dict:
    config = copy.deepcopy(TINY)
    config["datasets"]["mnist"]["data"]["local_dir"] = str(mnist_dir)
    return config


def write_config(workdir: Path, config: dict) -> Path:
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake(
    workdir: Path, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               "--configfile", str(workdir / "config.yaml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, env=env, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path) -> list[tuple[str, dict[str, str]]]:
    """(rule, wildcards) of every job a dry run would run, the target rule 'all' left out."""
    output = snakemake(workdir, "--dry-run").stdout
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        header = re.match(r"^(?:local)?(?:rule|checkpoint) (\w+):$", line)
        if header:
            jobs.append((header.group(1), {}))
        elif line.startswith("    wildcards: ") and jobs:
            pairs = line.removeprefix("    wildcards: ").split(", ")
            jobs[-1][1].update(pair.split("=", 1) for pair in pairs)
    return [job for job in jobs if job[0] != "all"]


def artifact_files(workdir: Path) -> list[Path]:
    """Every artifact; logs, timings and the MNIST download aside."""
    root = workdir / "artifacts"
    return [p for p in root.rglob("*") if p.is_file() and not {"logs", "benchmarks", "torchvision"} & set(p.parts)]


def snapshot(workdir: Path) -> dict[str, int]:
    """Modification time of every artifact."""
    return {str(p.relative_to(workdir)): p.stat().st_mtime_ns for p in artifact_files(workdir)}


def changed(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {path for path, mtime in after.items() if before.get(path) != mtime}
