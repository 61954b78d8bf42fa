"""How reproducible a job's floating-point results are, set in one place.

MKL (torch's CPU matrix library on x86) picks its kernels per CPU and may change
the order of a sum between runs or thread counts. Its conditional numerical
reproducibility mode (``MKL_CBWR``) fixes that:

- ``machine`` (default): ``AUTO,STRICT``, MKL's fastest kernels for this CPU, run in
  a fixed order: the same bits run after run on one machine at one thread count.
- ``cross_cpu``: ``AVX2,STRICT``, one code path on every x86 CPU with AVX2, which
  oneMKL documents as the same bits across such CPUs. On AVX-512 CPUs it runs the
  AVX2 kernels at about half the matmul speed (README, "Reproducibility").

MKL reads the variable at its first call, so ``use`` must run before any tensor
arithmetic: ``lthpipe.jobs.job`` calls it right after importing torch, for every
job, with the mode its rule passes as a param (changing it reruns every torch job).
An ``MKL_CBWR`` already set in the environment wins, and the record says so.
Torch builds without MKL (ARM, macOS) and CUDA ignore it.
"""

from __future__ import annotations

import os
from pathlib import Path

MODES = {"machine": "AUTO,STRICT", "cross_cpu": "AVX2,STRICT"}


def use(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown numerics mode {mode!r}; choose one of {sorted(MODES)}")
    os.environ.setdefault("MKL_CBWR", MODES[mode])


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def describe() -> dict:
    """The mode in force (or "environment" when MKL_CBWR came from outside), the MKL
    setting and the instruction set its kernels use: the pinned one, or under AUTO
    the widest this CPU has."""
    import torch

    cbwr = os.environ.get("MKL_CBWR", "")
    mode = next((name for name, value in MODES.items() if value == cbwr), "environment" if cbwr else None)
    branch = cbwr.split(",")[0]
    if branch in ("", "AUTO"):
        flags = cpu_flags()
        branch = "AVX512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "other"
    return {
        "numerics": mode, "mkl_cbwr": cbwr or None, "mkl_isa": branch if torch.backends.mkl.is_available() else None,
        "aten_isa": torch.backends.cpu.get_cpu_capability(),
    }
