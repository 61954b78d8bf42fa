from lthpipe.jobs import job
from lthpipe.stages import prune

with job(snakemake):  # noqa: F821 (injected by Snakemake)
    prune(
        snakemake.input.data, snakemake.input.dense, snakemake.wildcards.dataset,  # noqa: F821
        snakemake.params.fraction, snakemake.params.scope, snakemake.output.masks,  # noqa: F821
    )
