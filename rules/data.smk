# One job per dataset: load its source, refuse bad data, split and standardize.
rule make_data:
    input:
        source_inputs,
    output:
        data="artifacts/{dataset}/data/data.pt",
        record="artifacts/{dataset}/data/data.json",
    params:
        numerics=NUMERICS,
        settings=data_settings,
        code=code_of("make_data"),
    log:
        "artifacts/{dataset}/logs/make_data.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/make_data.tsv"
    threads: 1
    resources:
        mem_mb=data_mem_mb,
        runtime=data_runtime,
    group:
        search_group
    script:
        "../scripts/make_data.py"
