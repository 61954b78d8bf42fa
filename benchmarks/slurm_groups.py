"""Cluster jobs and wall time of a small suite through profiles/slurm, with its members'
jobs grouped (the default) and with one cluster job per job (suite key group_jobs: false),
on the one-node SLURM of tests/test_slurm.py (started here, stopped at the end).

    python benchmarks/slurm_groups.py [--fractions 1.0 0.3] [--repeats 1]

Needs what tests/test_slurm.py needs (SLURM and munge, or root and apt-get) and the
plugin in .slurm-plugin/ (that test installs it). The suite is tests/test_slurm_suite.py's:
three tables, one of which the data refuse.
"""

from __future__ import annotations

import argparse
import getpass
import copy
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_slurm as ts  # noqa: E402
from test_slurm_suite import SUITE, batch_jobs, write_tables  # noqa: E402
from workflow_helpers import snakemake, write_config  # noqa: E402


def start_cluster(root: Path) -> tuple[dict[str, str], list[subprocess.Popen]]:
    if not ts.have_slurm():
        ts.install_slurm()
    if not ts.PLUGIN_DIR.is_dir():
        ts.install_plugin(ts.PLUGIN_DIR)
    conf = ts.write_cluster(root)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ts.PLUGIN_DIR), os.environ.get("PYTHONPATH")]))}
    munged = ["munged", "--foreground", "--force", f"--key-file={root}/munge.key", f"--socket={root}/munge.sock",
              f"--pid-file={root}/munged.pid", f"--seed-file={root}/munged.seed", f"--log-file={root}/munged.log"]
    daemons = [ts.start(munged, root / "munged.out", env)]
    ts.wait_for_cluster((root / "munge.sock").exists, "munge socket", daemons, root)
    daemons.append(ts.start(["slurmctld", "-D"], root / "slurmctld.out", env))
    daemons.append(ts.start(["slurmd", "-D", "-N", "localhost"], root / "slurmd.out", env))
    ts.wait_for_cluster(lambda: ts.node_state(env) == "idle", "idle node in sinfo", daemons, root)
    return env, daemons


def measure(env: dict[str, str], folder: Path, grouped: bool, fractions: list[float]) -> tuple[int, float]:
    """Cluster jobs and wall seconds of the suite from nothing."""
    config = copy.deepcopy(SUITE)
    config["defaults"]["fractions"] = fractions
    config["suites"]["tiny"]["group_jobs"] = grouped
    folder.mkdir()
    write_tables(folder / "tables")
    write_config(folder, config)
    started = time.monotonic()
    snakemake(folder, *ts.ON_SLURM, "--cores", "2", env=env, timeout=3600)
    return len(batch_jobs(env, folder)), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fractions", type=float, nargs="+", default=[1.0, 0.3])
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "slurm").mkdir()
        env, daemons = start_cluster(Path(tmp) / "slurm")
        try:
            print("| jobs grouped | cluster jobs | wall time (s) |\n|---|---|---|")
            for k in range(args.repeats):
                for grouped in (False, True):
                    jobs, wall = measure(env, Path(tmp) / f"run{k}_{grouped}", grouped, args.fractions)
                    print(f"| {'yes' if grouped else 'no'} | {jobs} | {wall:.0f} |", flush=True)
        finally:
            subprocess.run(["scancel", "--user", getpass.getuser()], capture_output=True, env=env)
            ts.stop(daemons)


if __name__ == "__main__":
    main()
