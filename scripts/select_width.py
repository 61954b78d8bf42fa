from lthpipe.jobs import job
from lthpipe.results import select_width

sm = snakemake  # noqa: F821 (injected by Snakemake)
with job(sm, uses_torch=False):
    select_width(
        width_paths=sm.input.results, tolerance=sm.params.tolerance, out_json=sm.output.selection,
        out_png=sm.output.plot,
    )
