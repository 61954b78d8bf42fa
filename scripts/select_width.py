from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    width_paths=sm.input.results, tolerance=sm.params.tolerance, out_json=sm.output.selection,
    out_png=sm.output.plot,
)
