"""lthpipe's speed figures, all measured in one run on this machine.

    python benchmarks/run.py [--mnist-dir DIR] [--skip-pipeline | --products-only] [--numerics machine|cross_cpu]

1. seconds per MNIST epoch of one 784-300-100-10 MLP (batch 128, Adam): a plain
   DataLoader loop with per-sample ToTensor/Normalize against lthpipe's trainer,
   both with 1 thread and with every core;
2. achieved GFLOP/s of lthpipe training for 1/4/16/64 stacked one-hidden-layer
   networks of width 32/128/512, next to the machine's large-matmul GFLOP/s;
3. the default pipeline from nothing (wall time), per-job start overhead, a
   no-op rerun and a dry run;
4. peak memory (max RSS) of the largest jobs and the jobs' CPU time, from the
   last line of each job's log (Snakemake's benchmark files measure the job's own
   process, which hands torch jobs to the warm worker: lthpipe.worker);
5. a training step's time against the time its own matrix products take alone, at
   the same shapes and layouts (lthpipe.model's forward and backward): the rest is
   overhead the code could still remove. For the replication's stack (batch 60,
   784-300-100-10, 3 networks) and the default study's (batch 128, one hidden layer).

Training runs in the numerics mode pipeline jobs use (lthpipe.numerics; --numerics
picks another); the matmul peak is measured in that mode and with MKL free. Each
figure is printed next to the one of the previous run on this checkout
(benchmarks/latest.json, rewritten at the end).

The machine's speed drifts by up to 30% from minute to minute on a shared VM, so
1 and 2 report the best of REPEATS runs (as timeit does): the fastest run is the
one least disturbed by others.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from lthpipe import numerics
from lthpipe.datasets import MnistSource, SplitSettings, Splits
from lthpipe.jobs import job_usage
from lthpipe.model import Architecture, init_params, stack, training_flops_per_sample
from lthpipe.settings import TrainSettings
from lthpipe.train import train_stack

REPO = Path(__file__).resolve().parents[1]
LATEST = REPO / "benchmarks" / "latest.json"
REPEATS = 3
STEPS = 32  # minibatches per throughput measurement: enough that per-run setup is a small part


class Figures:
    """Figures of this run, each printed beside the previous run's value of the same name."""

    def __init__(self) -> None:
        self.previous = json.loads(LATEST.read_text()) if LATEST.is_file() else {}
        self.now: dict[str, float] = {}

    def __call__(self, name: str, value: float, fmt: str = ".1f") -> str:
        self.now[name] = value
        before = self.previous.get(name)
        return f"{value:{fmt}}" + (f" [was {before:{fmt}}]" if before is not None else "")

    def save(self) -> None:
        LATEST.write_text(json.dumps({**self.previous, **self.now}, indent=1) + "\n")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    avx512 = "with" if "avx512f" in numerics.cpu_flags() else "without"
    return f"{cpu} ({avx512} AVX-512), {os.cpu_count()} cores, torch {torch.__version__}"


PEAK_SCRIPT = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
for _ in range(3):
    a @ b
best = float("inf")
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    best = min(best, time.perf_counter() - start)
print(2 * 2048**3 * 10 / best / 1e9)
"""


def matmul_gflops(threads: int, cbwr: str | None) -> float:
    """Large float32 matmul throughput (best of REPEATS), in a fresh process with
    MKL_CBWR=cbwr, or with MKL free to pick its kernels and order when None."""
    env = {k: v for k, v in os.environ.items() if k != "MKL_CBWR"} | ({"MKL_CBWR": cbwr} if cbwr else {})
    command = [sys.executable, "-c", PEAK_SCRIPT, str(threads), str(REPEATS)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout)


def best_of(measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(REPEATS))


def dataloader_epoch(root: str) -> float:
    """The usual tutorial / lottery-ticket-framework loop: per-sample transforms, DataLoader, nn.Module."""
    from torch import nn
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    loader = DataLoader(datasets.MNIST(root, train=True, transform=transform), batch_size=128, shuffle=True)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(), nn.Linear(100, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for x, y in loader:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return time.perf_counter() - start


def lthpipe_epoch(splits: Splits) -> float:
    init = stack([init_params(Architecture(784, (300, 100), 10), 0, "init")])
    start = time.perf_counter()
    train_stack(init, splits, TrainSettings(epochs=1, lr=1e-3, batch_size=128), order_seed=0)
    return time.perf_counter() - start


def stacked_gflops(splits: Splits, n_nets: int, width: int) -> float:
    """Training throughput on STEPS minibatches of 128 (validation/test of 256 included)."""
    arch = Architecture(784, (width,), 10)
    return training_flops_per_sample(arch, n_nets) * 128 / step_seconds(splits, arch, n_nets, 128) / 1e9


def step_seconds(splits: Splits, arch: Architecture, n_nets: int, batch: int) -> float:
    """One training step of the trainer, from STEPS minibatches (a validation and test
    evaluation of 256 each included)."""
    n = batch * STEPS
    part = Splits(splits.x_train[:n], splits.y_train[:n], splits.x_val[:256], splits.y_val[:256],
                  splits.x_test[:256], splits.y_test[:256])
    init = stack([init_params(arch, seed, "init") for seed in range(n_nets)])
    settings = TrainSettings(epochs=1, lr=1e-3, batch_size=batch)
    train_stack(init, part, settings, order_seed=0)  # warm-up

    def run() -> float:
        start = time.perf_counter()
        train_stack(init, part, settings, order_seed=0)
        return time.perf_counter() - start

    return best_of(run) / STEPS


def products_seconds(arch: Architecture, n_nets: int, batch: int) -> float:
    """The matrix products of one training step alone (lthpipe.model.forward_with_activations
    and backward: the same calls, shapes and layouts), on random data."""
    sizes = arch.sizes
    w = [torch.randn(n_nets, o, i) for i, o in zip(sizes, sizes[1:])]
    b = [torch.randn(n_nets, o) for o in sizes[1:]]
    x = torch.randn(batch, sizes[0])
    acts = [torch.randn(n_nets, o, batch) for o in sizes[1:]]
    grads = [torch.empty_like(m) for m in w]

    def run() -> float:
        start = time.perf_counter()
        for _ in range(STEPS):
            n, h, d = w[0].shape
            torch.addmm(b[0].reshape(-1, 1), w[0].reshape(n * h, d), x.t())
            for i in range(1, len(w)):
                torch.baddbmm(b[i].unsqueeze(2), w[i], acts[i - 1])
            for i in range(len(w) - 1, 0, -1):
                torch.bmm(acts[i], acts[i - 1].transpose(1, 2), out=grads[i])
                torch.bmm(w[i].transpose(1, 2), acts[i])
            torch.mm(acts[0].view(n * h, -1), x, out=grads[0].view(n * h, d))
        return time.perf_counter() - start

    run()  # warm-up
    return best_of(run) / STEPS


# Stacks of section 5: (what, architecture, networks, batch).
SHARE_STACKS = (
    ("replication: LeNet-300-100, 3 seeds", Architecture(784, (300, 100), 10), 3, 60),
    ("default study: MNIST retrain, 4 methods x 3 seeds, width 64", Architecture(784, (64,), 10), 12, 128),
    ("16 networks, width 512", Architecture(784, (512,), 10), 16, 128),
)


def products_share(splits: Splits, figure: Figures, threads: int) -> None:
    print(f"\n5. a training step against its own matrix products alone, {threads} thread(s), best of {REPEATS}")
    for what, arch, n_nets, batch in SHARE_STACKS:
        step, products = step_seconds(splits, arch, n_nets, batch), products_seconds(arch, n_nets, batch)
        key = f"products_share_{arch.hidden[0]}x{n_nets}_b{batch}_{threads}t"
        print(f"   {what}: step {step * 1e3:.2f} ms, its products alone {products * 1e3:.2f} ms: "
              f"{figure(key, products / step, '.0%')} of the step")


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def pipeline(mnist_dir: str | None, cores: int, figure: Figures) -> None:
    work = Path(tempfile.mkdtemp(prefix="lthpipe-bench-"))
    shutil.copy(REPO / "config.yaml", work / "config.yaml")
    base = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work), "--cores", str(cores)]
    if mnist_dir:
        base += ["--config", f"datasets={{mnist: {{source: {{local_dir: {mnist_dir}}}}}}}"]
    print(f"\n3. default pipeline (config.yaml) in {work}, --cores {cores}")
    print(f"   from nothing:      {figure('pipeline_s', timed(base, work))} s")
    print(f"   no-op rerun:       {figure('noop_s', timed(base, work))} s   (target < 5 s)")
    print(f"   dry run:           {figure('dry_run_s', timed(base + ['--dry-run'], work))} s   (target < 3 s)")
    imports = timed([sys.executable, "-c", "import torch, lthpipe.stages.training"], work)
    one_job = timed(base + ["--forcerun", "artifacts/diabetes/prune/f0.500/masks.pt", "--", "artifacts/diabetes/prune/f0.500/masks.pt"], work)
    print(f"   job start: python + torch + lthpipe imports {imports:.2f} s in a fresh process; one forced cheap job "
          f"(prune, diabetes) through snakemake and the warm worker {one_job:.2f} s end to end")
    jobs = [(*job_usage(log), str(log.relative_to(work / "artifacts"))) for log in (work / "artifacts").rglob("*.log")]
    print("\n4. peak memory (max RSS) of the largest jobs, from the last line of each job's log")
    for seconds, cpu, rss, name in sorted(jobs, key=lambda job: job[2], reverse=True)[:3]:
        print(f"   {rss:7.0f} MB  {seconds:6.1f} s  {name}")
    print(f"   largest job: {figure('peak_job_mb', max(job[2] for job in jobs), '.0f')} MB (target < 1500 MB)")
    print(f"   job CPU time {figure('job_cpu_s', sum(job[1] for job in jobs), '.0f')} s over {len(jobs)} jobs, "
          f"of which MNIST training (train_width, train_dense, retrain) "
          f"{sum(job[1] for job in jobs if job[3].startswith('mnist/') and 'train' in job[3]):.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    shared = REPO.parent / "shared" / "data" / "mnist"
    parser.add_argument("--mnist-dir", default=str(shared) if shared.is_dir() else None,
                        help="folder with the MNIST IDX files (default: ../shared/data/mnist if present, else download)")
    parser.add_argument("--root", default=str(REPO / "artifacts" / "torchvision"), help="torchvision MNIST root")
    parser.add_argument("--cores", type=int, default=4, help="--cores for the pipeline run")
    parser.add_argument("--numerics", choices=sorted(numerics.MODES), default="machine",
                        help="the numerics mode training runs in (config key `numerics`)")
    parser.add_argument("--skip-pipeline", action="store_true")
    parser.add_argument("--products-only", action="store_true", help="section 5 alone")
    args = parser.parse_args()
    numerics.use(args.numerics)  # before any arithmetic, as pipeline jobs do
    figure = Figures()

    print(f"machine: {machine()}; training numerics {numerics.describe()}")
    source = MnistSource(root=args.root, local_dir=args.mnist_dir)
    splits = source.load("mnist", SplitSettings(stratify=False)).folds[0]
    cpus = sorted({1, os.cpu_count() or 1})
    if args.products_only:
        for threads in cpus:
            torch.set_num_threads(threads)
            products_share(splits, figure, threads)
        return
    peaks = {}
    for threads in cpus:
        peaks[threads] = matmul_gflops(threads, os.environ.get("MKL_CBWR"))
        free = matmul_gflops(threads, None)
        print(f"large matmul (2048^2, float32), {threads} thread(s): "
              f"{figure(f'peak_{args.numerics}_{threads}t', peaks[threads], '.0f')} GFLOP/s in the training mode, "
              f"{figure(f'peak_free_{threads}t', free, '.0f')} with MKL free")

    print(f"\n1. one 784-300-100-10 MLP, MNIST, batch 128, Adam: seconds per epoch, best of {REPEATS}")
    for threads in cpus:
        torch.set_num_threads(threads)
        loader_s = best_of(lambda: dataloader_epoch(args.root))
        ours_s = best_of(lambda: lthpipe_epoch(splits))
        print(f"   {threads} thread(s): DataLoader + ToTensor/Normalize {figure(f'loader_epoch_{threads}t', loader_s, '.2f')} s "
              f"(60000 images); lthpipe {figure(f'lenet_epoch_{threads}t', ours_s, '.2f')} s "
              f"(55000 images + val/test evaluation): {loader_s / ours_s:.1f}x (target >= 8x)")

    for threads, peak in peaks.items():
        torch.set_num_threads(threads)
        print(f"\n2. lthpipe training, GFLOP/s (% of the {peak:.0f} GFLOP/s matmul peak in the training mode), "
              f"{threads} thread(s); one hidden layer, batch 128, Adam")
        print("   networks " + "".join(f"{f'width {w}':>24}" for w in (32, 128, 512)))
        for n_nets in (1, 4, 16, 64):
            cells = []
            for width in (32, 128, 512):
                share = stacked_gflops(splits, n_nets, width) / peak
                cells.append(figure(f"stack_{n_nets}x{width}_{threads}t", share, ".0%"))
            print(f"   {n_nets:>8} " + "".join(f"{c:>24}" for c in cells))

    for threads in cpus:
        torch.set_num_threads(threads)
        products_share(splits, figure, threads)
    if not args.skip_pipeline:
        pipeline(args.mnist_dir, args.cores, figure)
    figure.save()


if __name__ == "__main__":
    main()
