# Cheap reporting rules read only the stages' JSON records; they run on the
# submitting machine even under a cluster profile.
localrules:
    select_width,
    aggregate,
    summarize,


rule aggregate:
    input:
        unpack(aggregate_inputs),
    output:
        csv="artifacts/{dataset}/curve.csv",
        plot=report(
            "artifacts/{dataset}/curve.png",
            caption="../report/curve.rst",
            category="{dataset}",
            subcategory="2. accuracy against fraction retained",
            labels={"dataset": "{dataset}", "figure": "accuracy curves"},
        ),
        summary="artifacts/{dataset}/summary.json",
    params:
        settings=report_settings,
        code=REPORT_CODE,
    log:
        "artifacts/{dataset}/logs/aggregate.log",
    threads: 1
    script:
        "../scripts/aggregate.py"


rule summarize:
    input:
        summaries=dataset_summaries,
    output:
        markdown="artifacts/summary.md",
        plot=report(
            "artifacts/summary.png",
            caption="../report/summary.rst",
            category="Summary",
            labels={"figure": "all datasets"},
        ),
    params:
        code=REPORT_CODE,
    log:
        "artifacts/logs/summarize.log",
    threads: 1
    script:
        "../scripts/summarize.py"
