from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(sm, suite=sm.params.suite, member_paths=sm.input.members, out_png=sm.output.plot)
