"""Which library function each Snakemake rule runs: the one table that jobs
dispatch through (lthpipe.jobs) and that each rule's code hash is derived from
(lthpipe.provenance). Free of torch: the workflow reads it while it parses."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from lthpipe import provenance

# Torch jobs (scripts call jobs.run_stage; the warm worker imports these modules).
STAGES = {
    "make_data": "lthpipe.stages.data:make_data",
    "check_data": "lthpipe.stages.data:check_data",
    "train_width": "lthpipe.stages.training:train_width",
    "train_dense": "lthpipe.stages.training:train_dense",
    "prune": "lthpipe.stages.training:prune",
    "retrain": "lthpipe.stages.training:retrain",
    "imp": "lthpipe.stages.training:imp",
    "imp_controls": "lthpipe.stages.training:imp_controls",
    "decision_regions": "lthpipe.stages.figures:decision_regions",
    "export_network": "lthpipe.stages.exports:export_network",
    "benchmark_inference": "lthpipe.stages.benchmark:benchmark_inference",
    "planted_inputs": "lthpipe.stages.analyses:planted_inputs",
    "instability": "lthpipe.stages.analyses:instability",
    "align_overlap": "lthpipe.stages.analyses:align_overlap",
}
# Reporting jobs, free of torch (scripts call jobs.run_report).
REPORTS = {
    "select_width": "lthpipe.results.width:select_width",
    "aggregate": "lthpipe.results.aggregate:aggregate",
    "summarize": "lthpipe.results.summary:summarize",
    "summarize_instability": "lthpipe.results.instability:summarize_instability",
    "suite_member": "lthpipe.suite_report:suite_member",
    "suite_summary": "lthpipe.suite_report:suite_summary",
    "suite_planted": "lthpipe.suite_report:suite_planted",
}
FUNCTIONS = {**STAGES, **REPORTS}


def function(rule: str) -> Callable[..., Any]:
    """The function a rule runs."""
    module, _, name = FUNCTIONS[rule].partition(":")
    return getattr(importlib.import_module(module), name)


def stage_modules() -> list[str]:
    """The modules of the torch stages, which the warm worker imports once."""
    return sorted({target.partition(":")[0] for target in STAGES.values()})


def code(rule: str) -> str:
    """A rule's `code` param: the digest of the lthpipe modules its function can run."""
    return provenance.code_version(FUNCTIONS[rule])
