from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    summary_paths=sm.input.summaries, inference_paths=sm.input.inference, out_md=sm.output.markdown,
    out_html=sm.output.html, out_png=sm.output.plot,
)
