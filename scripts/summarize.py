from lthpipe.jobs import job
from lthpipe.results import summarize

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm, uses_torch=False):
    summarize(
        summary_paths=sm.input.summaries, inference_paths=sm.input.inference, out_md=sm.output.markdown,
        out_html=sm.output.html, out_png=sm.output.plot,
    )
