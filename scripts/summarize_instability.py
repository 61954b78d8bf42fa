from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    dataset=sm.wildcards.dataset, dense_path=sm.input.dense, record_paths=list(sm.input.records),
    out_json=sm.output.summary, out_png=sm.output.plot,
)
