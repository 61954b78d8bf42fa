from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    suite=sm.params.suite, member_paths=sm.input.members, out_md=sm.output.markdown, out_html=sm.output.html,
    out_png=sm.output.plot, out_json=sm.output.json,
)
