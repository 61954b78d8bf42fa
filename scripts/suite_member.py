from lthpipe.jobs import run_report

sm = snakemake  # noqa: F821 (injected by Snakemake)
run_report(
    sm,
    suite=sm.wildcards.suite, member=sm.params.member, check_path=sm.input.get("check"),
    data_path=sm.input.get("data"), summary_path=sm.input.get("summary"), planted_path=sm.input.get("planted"),
    out=sm.output.record,
)
