from lthpipe.datasets import DataSettings
from lthpipe.jobs import run_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    dataset=sm.wildcards.dataset, settings=DataSettings.from_params(sm.params.settings), out=sm.output.check,
)
