"""What one level of the replication costs, before and after the controls moved
into a job of their own: each variant of level 1 runs as a job does (lthpipe.jobs:
its log, numerics and thread count, and the log's last line with wall time, CPU
time and peak memory), one after another, in fresh processes.

    python docs/replication/level_cost.py RUN OUT [--iterations N]

RUN is a replication run's dataset folder (artifacts/mnist_lenet, with its data
and dense networks); OUT gets one log and one checkpoint per variant:

- before: the level as one job, the ticket and both controls in one stack of 9
  (the next level waits for all of it);
- ticket: the ticket's job alone, 3 networks (all the next level waits for);
- controls: the controls' job, 6 networks (beside the next level, on the other core).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
VARIANTS = ("before", "ticket", "controls")


def level_settings(iterations: int | None):
    from dataclasses import replace

    from lthpipe.config import resolve

    config = yaml.safe_load((REPO / "config" / "paper_lenet.yaml").read_text())
    study = resolve(config)["mnist_lenet"]
    level = study.level_settings(1)
    if iterations is not None:
        level = replace(level, run=replace(level.run, train=replace(level.run.train, iterations=iterations)))
    return level


def run_one(variant: str, run: Path, out: Path, iterations: int | None) -> None:
    """One variant as a job, in this (fresh) process."""
    from lthpipe.jobs import JobSpec, execute

    level = level_settings(iterations)
    settings = {"before": level, "ticket": level.ticket(), "controls": level.controls()}[variant]
    model = out / f"{variant}.pt"
    spec = JobSpec("imp_controls" if variant == "controls" else "imp", {"dataset": "mnist_lenet", "level": "01"}, 1,
                   str(out / f"{variant}.log"), (str(model),), "machine")
    arguments = {"data_path": run / "data" / "data.pt", "dense_path": run / "dense" / "model.pt",
                 "dataset": "mnist_lenet", "settings": settings, "out": model}
    if variant == "controls":
        arguments["ticket_path"] = out / "ticket.pt"
    else:
        arguments["previous_path"] = run / "dense" / "model.pt"
    sys.exit(execute(spec, arguments, in_worker=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--iterations", type=int, help="a shorter budget than the paper's 50,000")
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.variant:
        run_one(args.variant, args.run, args.out, args.iterations)
    from lthpipe.jobs import job_usage

    for variant in VARIANTS:
        budget = ["--iterations", str(args.iterations)] if args.iterations else []
        subprocess.run([sys.executable, __file__, str(args.run), str(args.out), "--variant", variant, *budget],
                       check=True)
        wall, cpu, peak = job_usage(args.out / f"{variant}.log")
        print(f"{variant}: {wall:.1f} s wall, {cpu:.1f} s CPU, peak {peak} MB")


if __name__ == "__main__":
    main()
