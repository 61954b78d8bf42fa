from lthpipe.jobs import job
from lthpipe.settings import TrainSettings
from lthpipe.stages import train_dense

p = snakemake.params  # noqa: F821 (injected by Snakemake)
with job(snakemake):  # noqa: F821
    train_dense(
        snakemake.input.data, snakemake.wildcards.dataset, p.width, p.seeds,  # noqa: F821
        TrainSettings(**p.train), p.order_seed, p.device, snakemake.output.model,  # noqa: F821
    )
