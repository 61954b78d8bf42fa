# Suites (config key `suites`, lthpipe.suites): each member is an ordinary dataset with
# the rules above. These check a member's data before anything else of it runs, count
# what pruning did to planted inputs, and gather the members into the suite's summary.
localrules:
    suite_member,
    suite_summary,
    suite_planted,


# The member's data, built and checked but not kept: accepted or refused with the
# message. A checkpoint, so the member's other jobs are planned only once accepted.
checkpoint check_data:
    input:
        source_inputs,
    output:
        check="artifacts/{dataset}/data/check.json",
    params:
        numerics=NUMERICS,
        settings=data_settings,
        code=code_of("check_data"),
    log:
        "artifacts/{dataset}/logs/check_data.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/check_data.tsv"
    threads: 1
    resources:
        mem_mb=data_mem_mb,
        runtime=data_runtime,
    group:
        search_group
    script:
        "../scripts/check_data.py"


# Planted and real inputs' first-layer connections that each retrained network's mask kept.
rule planted_inputs:
    input:
        data="artifacts/{dataset}/data/data.json",
        retrained=retrain_models,
    output:
        planted="artifacts/{dataset}/planted.json",
    params:
        numerics=NUMERICS,
        code=code_of("planted_inputs"),
    log:
        "artifacts/{dataset}/logs/planted_inputs.log",
    benchmark:
        "artifacts/{dataset}/benchmarks/planted_inputs.tsv"
    threads: 1
    resources:
        mem_mb=mem_mb,
        runtime=15,
    group:
        training_group
    script:
        "../scripts/planted_inputs.py"


# One member's line of its suite's summary: refused with its message, or its traits
# and removable fractions (lthpipe.suite_report).
rule suite_member:
    input:
        unpack(member_inputs),
    output:
        record="artifacts/suites/{suite}/members/{dataset}.json",
    params:
        member=member_params,
        code=code_of("suite_member"),
    log:
        "artifacts/suites/{suite}/logs/{dataset}.log",
    threads: 1
    script:
        "../scripts/suite_member.py"


rule suite_summary:
    input:
        members=suite_member_records,
    output:
        markdown="artifacts/suites/{suite}/summary.md",
        json="artifacts/suites/{suite}/summary.json",
        html=report(
            "artifacts/suites/{suite}/summary.html",
            caption="../report/suite_table.rst",
            category="suite {suite}",
            labels={"figure": "summary table"},
        ),
        plot=report(
            "artifacts/suites/{suite}/summary.png",
            caption="../report/suite.rst",
            category="suite {suite}",
            labels={"figure": "removable fraction across datasets"},
        ),
    params:
        suite=suite_params,
        code=code_of("suite_summary"),
    log:
        "artifacts/suites/{suite}/logs/suite_summary.log",
    threads: 1
    script:
        "../scripts/suite_summary.py"


rule suite_planted:
    input:
        members=suite_member_records,
    output:
        plot=report(
            "artifacts/suites/{suite}/planted.png",
            caption="../report/suite_planted.rst",
            category="suite {suite}",
            labels={"figure": "planted irrelevant inputs"},
        ),
    params:
        suite=suite_params,
        code=code_of("suite_planted"),
    log:
        "artifacts/suites/{suite}/logs/suite_planted.log",
    threads: 1
    script:
        "../scripts/suite_planted.py"
