"""Settings the machine cannot run, refused when the workflow is parsed (before any
job), naming the key: a CUDA device where there is none, networks or batches whose
memory exceeds what a job may use. Free of torch: parsing stays fast, so CUDA is
detected from the driver, not from torch (a job on a machine whose torch lacks
CUDA still fails at its start, in one line: lthpipe.train.resolve_device)."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from lthpipe.config import ConfigError

if TYPE_CHECKING:
    from lthpipe.config import Study

MB = 2**20
BASE_MB = 700  # python, torch and lthpipe, before any tensor (job logs: 560-700 MB)
FLOAT_BYTES = 4
# Copies of every weight a training job holds: the weights, gradients, Adam's two
# moments, the early-stopping point's weights, θ0, the mask and the rewind point.
WEIGHT_COPIES = 8
# Activations held per sample and hidden unit: the layer's output, its gradient and
# the pre-activation mask.
ACTIVATION_COPIES = 3
EVAL_CHUNK = 4096  # rows evaluated at once (lthpipe.train.EVAL_CHUNK)


def cuda_present() -> bool:
    """Whether this machine has an NVIDIA driver: its /proc entry (Linux) or nvidia-smi (WSL)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def machine_mb() -> int:
    """Physical memory of this machine."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // MB


def training_mb(hidden: Iterable[int], networks: int, batch_size: int, max_rows: int, features: int = 1,
                classes: int = 2) -> int:
    """The estimated peak memory of a training job: `networks` MLPs features -> hidden
    -> classes trained as one stack on minibatches of batch_size rows and evaluated in
    chunks of EVAL_CHUNK rows, neither more than the data's max_rows (features and
    classes default to their smallest possible values when not yet known)."""
    hidden = list(hidden)
    sizes = [features, *hidden, classes]
    weights = sum(a * b + b for a, b in zip(sizes, sizes[1:]))
    rows = min(max(batch_size, EVAL_CHUNK), max_rows)
    activations = rows * (sum(hidden) + classes) * ACTIVATION_COPIES
    return BASE_MB + math.ceil(networks * (weights * WEIGHT_COPIES + activations) * FLOAT_BYTES / MB)


def check_device(device: str, local: bool) -> str | None:
    """Why `device` cannot run jobs on this machine, or None. Only for jobs that run here
    (local execution, or the job's own node under a cluster profile)."""
    if local and device == "cuda" and not cuda_present():
        return ("config key 'device': cuda, but this machine has no CUDA device (no NVIDIA driver: neither "
                "/proc/driver/nvidia/version nor nvidia-smi); set device: auto (CUDA when present, else CPU) or cpu")
    return None


def training_estimates(study: Study) -> dict[str, tuple[str, int]]:
    """Each training rule of a study: the config key that sizes it most and the lower
    bound of its memory (MB). The chosen width is at most the largest searched."""
    s = study.settings
    units = len(s.seeds) * study.data.split.resplits
    # Every loaded row takes at least 8 bytes (one float64 feature; a CSV row, two bytes
    # of file, is estimated at four times that).
    max_rows = max(1, int(study.data.source.loaded_mb() * MB / 8))
    hidden = list(s.hidden) if s.hidden is not None else [max(s.widths)]
    key = "hidden" if s.hidden is not None else "widths"
    stacks = {"train_dense": units}
    if study.searches_width:
        stacks["train_width"] = units
    if s.fractions:
        stacks["retrain"] = units * len(s.methods)
    if s.imp.levels:
        stacks["imp"] = units * len(s.imp.methods)
    out = {}
    for rule, networks in stacks.items():
        mb = training_mb(hidden, networks, s.train.batch_size, max_rows)
        without_batch = training_mb(hidden, networks, 1, max_rows)
        out[rule] = ("train.batch_size" if mb - without_batch > without_batch - BASE_MB else key, mb)
    return out


def check(studies: dict[str, Study], device: str, local: bool) -> None:
    """ConfigError for the first setting this machine (when jobs run here) or a
    dataset's own memory resource cannot hold."""
    problem = check_device(device, local)
    if problem:
        raise ConfigError(problem)
    for name, study in studies.items():
        limit, what = study.resources.mem_mb, f"its resources.mem_mb ({study.resources.mem_mb} MB)"
        if limit is None and local:
            limit, what = machine_mb(), f"this machine's memory ({machine_mb()} MB)"
        if limit is None:
            continue
        rule, (key, mb) = max(training_estimates(study).items(), key=lambda item: item[1][1])
        if mb > limit:
            raise ConfigError(
                f"config key '{key}' of {name}: a {rule} job would need about {mb} MB, more than {what}; "
                f"use a smaller {key.split('.')[-1]}"
            )
