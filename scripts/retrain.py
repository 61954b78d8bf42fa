from lthpipe.jobs import job
from lthpipe.settings import TrainSettings
from lthpipe.stages import retrain

p = snakemake.params  # noqa: F821 (injected by Snakemake)
with job(snakemake):  # noqa: F821
    retrain(
        snakemake.input.data, snakemake.input.dense, snakemake.input.masks, snakemake.wildcards.dataset,  # noqa: F821
        p.methods, TrainSettings(**p.train), p.order_seed, p.device, snakemake.output.model,  # noqa: F821
    )
