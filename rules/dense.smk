rule train_dense:
    input:
        unpack(after_width_search(data="artifacts/{dataset}/data/data.pt")),
    output:
        model="artifacts/{dataset}/dense/model.pt",
        record="artifacts/{dataset}/dense/model.json",
    params:
        numerics=NUMERICS,
        settings=dense_settings,
        code=code_of("train_dense"),
    log:
        "artifacts/{dataset}/logs/train_dense.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/train_dense.tsv"
    threads: training_threads
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    group:
        training_group
    script:
        "../scripts/train_dense.py"
