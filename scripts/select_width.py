from lthpipe.jobs import run_report
from lthpipe.settings import SelectionSettings, from_params

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    width_paths=sm.input.results, settings=from_params(SelectionSettings, sm.params.settings),
    out_json=sm.output.selection, out_png=sm.output.plot,
)
