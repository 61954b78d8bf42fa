from lthpipe.jobs import run_stage

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_stage(
    sm,
    dense_path=sm.input.dense, prune_paths=list(sm.input.masks), dataset=sm.wildcards.dataset,
    out_json=sm.output.table, out_png=sm.output.plot,
)
