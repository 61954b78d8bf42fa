from lthpipe.jobs import job
from lthpipe.stages import decision_regions

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm):
    decision_regions(
        data_path=sm.input.data, dense_path=sm.input.dense, masks_path=sm.input.masks,
        retrain_path=sm.input.retrained, dataset=sm.wildcards.dataset, out=sm.output.plot,
    )
