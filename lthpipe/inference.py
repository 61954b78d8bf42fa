"""Inference benchmark of one pruned network on CPU, form by form, at a pinned
thread count: which form to ship at which sparsity.

Forms: the dense unpruned network, the masked network (dense products over the
zeros), the compact network in torch and in ONNX Runtime, the CSR network in
torch sparse and in SciPy. For each: batch-1 latency and batch throughput
(median and quartiles over repeats), size on disk and multiply-adds per sample.
Rows are plain dicts, for a report to tabulate or plot.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lthpipe import checkpoint
from lthpipe.compact import apply_mask, compact, mlp_forward, multiply_adds
from lthpipe.export import FILES, RUNTIMES, STAGE, export, runners
from lthpipe.model import Params
from lthpipe.prune import Mask, retained_fraction

FULL_FILES = {"dense": "dense.pt", "masked": "masked.pt"}  # forms of full size, beside the export's files
FORMS = (*FULL_FILES, *RUNTIMES)
# Which count of compact.multiply_adds each form performs.
MULTIPLY_ADDS_OF = {"dense": "full", "masked": "full", "compact_torch": "compact", "compact_onnx": "compact", "csr_torch": "sparse", "csr_scipy": "sparse"}
SINGLE_THREADED = {"csr_scipy"}  # SciPy's sparse-dense product runs on one thread whatever the setting


@dataclass(frozen=True)
class BenchmarkSettings:
    """Defaults sized for ~10 fractions of a 784-64-10 network in about a minute
    per thread count on a shared 2-core machine."""

    threads: int = 1
    batch: int = 1024  # samples per throughput call
    repeats: int = 31  # timed repeats per form and measure; medians and quartiles over these
    latency_calls: int = 20  # batch-1 calls per latency repeat: one call (~10-50 us) is too short to time alone
    warmup: int = 2  # untimed repeats first: allocations, thread pools, ORT's first run

    def __post_init__(self) -> None:
        for name in ("threads", "batch", "repeats", "latency_calls"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be at least 0, got {self.warmup}")


def _seconds_per_call(runs: dict[str, Callable[[], Any]], calls: int, settings: BenchmarkSettings) -> dict[str, np.ndarray]:
    """Seconds per call of every run, once per repeat. The forms take turns within
    each repeat so that load from other processes falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(settings.warmup + settings.repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            for _ in range(calls):
                run()
            if repeat >= settings.warmup:
                times[name].append((time.perf_counter() - start) / calls)
    return {name: np.array(t) for name, t in times.items()}


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(q1), float(median), float(q3)


def benchmark(
    dense: Params,
    params: Params,
    mask: Mask,
    x: torch.Tensor,
    folder: Path,
    settings: BenchmarkSettings,
    provenance: dict[str, Any],
) -> list[dict[str, Any]]:
    """One row per form of FORMS for the pruned network (params, mask) and its
    dense unpruned counterpart `dense`. Exports into `folder` (checking every form
    against the masked network on x (N, n_in), N >= settings.batch) and times
    what was written: batch-1 latency on x[:1], throughput on x[:batch].
    ``bytes`` is the size of the form's model file (not its JSON sidecar);
    ``max_threads`` is the pinned count, or 1 for SciPy, which ignores it."""
    if len(x) < settings.batch:
        raise ValueError(f"need at least {settings.batch} samples to time a batch, got {len(x)}")
    folder = Path(folder)
    paths = {form: folder / FILES[RUNTIMES[form]] for form in RUNTIMES}
    export(params, mask, folder, x, provenance)
    masked = apply_mask(params, mask)
    for form, network in (("dense", dense), ("masked", masked)):
        paths[form] = folder / FULL_FILES[form]
        checkpoint.save(paths[form], network, {"stage": STAGE, "form": form, "provenance": provenance})
    counts = multiply_adds(compact(params, mask), mask)
    previous = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        runs = {"dense": partial(mlp_forward, dense), "masked": partial(mlp_forward, masked), **runners(folder, settings.threads)}
        with torch.inference_mode():
            latency = _seconds_per_call({f: partial(run, x[:1]) for f, run in runs.items()}, settings.latency_calls, settings)
            batch_time = _seconds_per_call({f: partial(run, x[: settings.batch]) for f, run in runs.items()}, 1, settings)
    finally:
        torch.set_num_threads(previous)
    rows = []
    for form in FORMS:
        lat_q1, lat_median, lat_q3 = _quartiles(latency[form] * 1e6)
        tp_q1, tp_median, tp_q3 = _quartiles(settings.batch / batch_time[form])
        rows.append({
            "form": form,
            "threads": settings.threads,
            "max_threads": 1 if form in SINGLE_THREADED else settings.threads,
            "retained": retained_fraction(mask),
            "latency_us": lat_median,
            "latency_us_q1": lat_q1,
            "latency_us_q3": lat_q3,
            "throughput_per_s": tp_median,
            "throughput_per_s_q1": tp_q1,
            "throughput_per_s_q3": tp_q3,
            "batch": settings.batch,
            "repeats": settings.repeats,
            "bytes": paths[form].stat().st_size,
            "multiply_adds": counts[MULTIPLY_ADDS_OF[form]],
        })
    return rows
