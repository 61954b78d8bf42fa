from pathlib import Path

from lthpipe.jobs import run_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, retrain_path=sm.input.retrained, dataset=sm.wildcards.dataset,
    method=sm.wildcards.method, seed=int(sm.wildcards.seed), out=Path(sm.output.compact).parent,
)
