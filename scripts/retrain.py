from lthpipe.jobs import job
from lthpipe.settings import RetrainSettings, from_params
from lthpipe.stages import retrain

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    retrain(
        data_path=sm.input.data, dense_path=sm.input.dense, masks_path=sm.input.masks, dataset=sm.wildcards.dataset,
        settings=from_params(RetrainSettings, sm.params.settings), out=sm.output.model,
    )
