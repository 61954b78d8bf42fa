from lthpipe.jobs import job
from lthpipe.settings import TrainSettings
from lthpipe.stages import train_width

p = snakemake.params  # noqa: F821 (injected by Snakemake)
with job(snakemake):  # noqa: F821
    train_width(
        snakemake.input.data, snakemake.wildcards.dataset, int(snakemake.wildcards.width), p.seeds,  # noqa: F821
        TrainSettings(**p.train), p.order_seed, p.device, snakemake.output.result,  # noqa: F821
    )
