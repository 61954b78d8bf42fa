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
        summary="artifacts/{dataset}/summary.json",
        curve=report_figure("curve", "2. accuracy against fraction retained", "accuracy curves"),
        early_stop=report_figure("early_stop", "2. accuracy against fraction retained", "early-stopping iteration"),
        training=report_figure("training", "3. how tickets train", "training curves"),
        removed=report_figure("removed", "4. what pruning removed", "inputs"),
        units=report_figure("units", "4. what pruning removed", "hidden units"),
        stability=report_figure("stability", "4. what pruning removed", "stability across seeds"),
    params:
        settings=report_settings,
        about=study_about,
        code=code_of("aggregate"),
    log:
        "artifacts/{dataset}/logs/aggregate.log",
    threads: 1
    script:
        "../scripts/aggregate.py"


rule summarize:
    input:
        summaries=dataset_summaries,
        inference=[f"artifacts/{name}/inference.json" for name in INFERENCE_DATASETS],
    output:
        markdown="artifacts/summary.md",
        html=report(
            "artifacts/summary.html",
            caption="../report/summary_table.rst",
            category="0. summary",
            labels={"figure": "summary table"},
        ),
        plot=report(
            "artifacts/summary.png",
            caption="../report/summary.rst",
            category="0. summary",
            labels={"figure": "accuracy curves, all datasets"},
        ),
    params:
        code=code_of("summarize"),
    log:
        "artifacts/logs/summarize.log",
    threads: 1
    script:
        "../scripts/summarize.py"
