from lthpipe.jobs import job
from lthpipe.results import select_width

with job(snakemake, uses_torch=False):  # noqa: F821 (injected by Snakemake)
    select_width(snakemake.input.results, snakemake.params.tolerance, snakemake.output.selection, snakemake.output.plot)  # noqa: F821
