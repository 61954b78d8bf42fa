from lthpipe.jobs import job
from lthpipe.settings import PruneSettings, from_params
from lthpipe.stages import prune

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    prune(
        data_path=sm.input.data, dense_path=sm.input.dense, dataset=sm.wildcards.dataset,
        settings=from_params(PruneSettings, sm.params.settings), out=sm.output.masks,
    )
