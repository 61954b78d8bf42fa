rule make_data:
    output:
        data="artifacts/{dataset}/data/data.pt",
        record="artifacts/{dataset}/data/data.json",
    params:
        settings=data_settings,
        code=TRAINING_CODE,
    log:
        "artifacts/{dataset}/logs/make_data.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/make_data.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    script:
        "../scripts/make_data.py"
