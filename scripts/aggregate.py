from lthpipe.jobs import job
from lthpipe.results import aggregate

i, o = snakemake.input, snakemake.output  # noqa: F821 (injected by Snakemake)
with job(snakemake, uses_torch=False):  # noqa: F821
    aggregate(
        snakemake.wildcards.dataset, i.selection, i.dense, i.pruned, i.retrained,  # noqa: F821
        snakemake.params.tolerance, o.csv, o.plot, o.summary,  # noqa: F821
    )
