from lthpipe.jobs import job
from lthpipe.settings import LevelSettings, from_params
from lthpipe.stages import imp

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    imp(
        data_path=sm.input.data, dense_path=sm.input.dense, previous_path=sm.input.previous,
        dataset=sm.wildcards.dataset, settings=from_params(LevelSettings, sm.params.settings), out=sm.output.model,
    )
