from lthpipe.jobs import run_stage
from lthpipe.settings import RetrainSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    data_path=sm.input.data, dense_path=sm.input.dense, masks_path=sm.input.masks, dataset=sm.wildcards.dataset,
    settings=from_params(RetrainSettings, sm.params.settings), out=sm.output.model,
)
