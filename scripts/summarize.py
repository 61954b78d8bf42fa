from lthpipe.jobs import job
from lthpipe.results import summarize

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm, uses_torch=False):
    summarize(summary_paths=sm.input.summaries, out_md=sm.output.markdown, out_png=sm.output.plot)
