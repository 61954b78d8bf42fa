# One job per retained fraction: masks of every seed (magnitude, and the at-init
# methods the retraining needs) and their accuracy without retraining.
rule prune:
    input:
        unpack(
            after_width_search(
                data="artifacts/{dataset}/data/data.pt",
                dense="artifacts/{dataset}/dense/model.pt",
            )
        ),
    output:
        masks="artifacts/{dataset}/prune/f{fraction}/masks.pt",
        record="artifacts/{dataset}/prune/f{fraction}/masks.json",
    params:
        numerics=NUMERICS,
        settings=prune_settings,
        code=code_of("prune"),
    log:
        "artifacts/{dataset}/logs/prune/f{fraction}.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/prune/f{fraction}.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=runtime,
    group:
        training_group
    script:
        "../scripts/prune.py"
