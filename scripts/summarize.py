from lthpipe.jobs import job
from lthpipe.results import summarize

with job(snakemake, uses_torch=False):  # noqa: F821 (injected by Snakemake)
    summarize(snakemake.input.summaries, snakemake.output.markdown, snakemake.output.plot)  # noqa: F821
