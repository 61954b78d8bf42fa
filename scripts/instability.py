from lthpipe.jobs import run_stage
from lthpipe.settings import SpawnSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dense_path=sm.input.dense, dataset=sm.wildcards.dataset,
    settings=from_params(SpawnSettings, sm.params.settings), out=sm.output.record,
)
