from lthpipe.jobs import run_stage
from lthpipe.settings import DenseSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dataset=sm.wildcards.dataset, settings=from_params(DenseSettings, sm.params.settings),
    out=sm.output.model,
)
