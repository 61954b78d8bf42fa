from lthpipe.jobs import run_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    record_path=sm.input.data, retrain_paths=sm.input.retrained, dataset=sm.wildcards.dataset, out=sm.output.planted,
)
